// What this controller last applied to each child, so an unchanged child is not applied again.
//
// The cache alone cannot justify skipping an apply: a field we stopped setting still shows in the observed
// object, and only an apply removes it. A skip needs both "we applied exactly this to this object" and
// "the cache still shows all of it" (host/src/executor/executor.ts, the same rule and the same bound).

package main

import (
	"container/list"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

type appliedRecord struct {
	uid    types.UID
	digest string
	// verifiedVersion is the observed resourceVersion last found to contain the digest's object.
	verifiedVersion string
}

// appliedMemory is a bounded map: forgetting an entry only costs one redundant, idempotent apply.
type appliedMemory struct {
	mu      sync.Mutex
	limit   int
	order   *list.List
	entries map[string]*list.Element
}

type appliedEntry struct {
	key    string
	record appliedRecord
}

func newAppliedMemory(limit int) *appliedMemory {
	return &appliedMemory{limit: limit, order: list.New(), entries: map[string]*list.Element{}}
}

func (m *appliedMemory) get(key string) (appliedRecord, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return appliedRecord{}, false
	}
	m.order.MoveToFront(e)
	return e.Value.(*appliedEntry).record, true
}

func (m *appliedMemory) set(key string, record appliedRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok {
		e.Value.(*appliedEntry).record = record
		m.order.MoveToFront(e)
		return
	}
	m.entries[key] = m.order.PushFront(&appliedEntry{key: key, record: record})
	if m.order.Len() > m.limit {
		oldest := m.order.Back()
		m.order.Remove(oldest)
		delete(m.entries, oldest.Value.(*appliedEntry).key)
	}
}

func (m *appliedMemory) forget(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok {
		m.order.Remove(e)
		delete(m.entries, key)
	}
}
