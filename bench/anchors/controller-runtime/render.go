// What one App should become: its ConfigMap, its Deployment, its status and its event (configmap-app v1).
//
// Line for line the logic of examples/configmap-app/assembly/app.ts and test/fixtures/native/app-reconciler.ts;
// a behaviour change must land in all three.

package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	nameLabel            = "app.kubernetes.io/name"
	managedByLabel       = "app.kubernetes.io/managed-by"
	configHashAnnotation = "app.wasmreconciler.dev/config-hash"
	messageKey           = "message"
)

// rendered is the reconcile output: children in apply order, the status, and the event to record, if any.
type rendered struct {
	children []map[string]any
	status   AppStatus
	event    *appEvent
	// invalid is set for a spec the reconciler refuses: a terminal error, no children.
	invalid string
}

type appEvent struct {
	eventType, reason, message string
}

// render needs the App's owned children: its Deployment (nil when absent) and whether its ConfigMap exists.
func render(app *App, deployment *appsv1.Deployment, configMapExists bool, now time.Time) rendered {
	name := app.Name
	image := app.Spec.Image
	replicas := int64(1)
	if app.Spec.Replicas != nil {
		replicas = *app.Spec.Replicas
	}
	if image == "" || replicas < 0 {
		problem := "spec.replicas must be an integer >= 0"
		if image == "" {
			problem = "spec.image is required"
		}
		return rendered{
			status:  AppStatus{Conditions: []metav1.Condition{readyCondition(app, metav1.ConditionFalse, "InvalidSpec", problem, now)}},
			invalid: problem,
		}
	}

	configMapName := name + "-config"
	labels := func() map[string]any { return map[string]any{nameLabel: name, managedByLabel: "wasm-reconciler"} }
	data := map[string]any{}
	for k, v := range app.Spec.Config {
		if k != messageKey {
			data[k] = v
		}
	}
	if app.Spec.Message != nil {
		data[messageKey] = *app.Spec.Message
	}
	configMap := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": configMapName, "namespace": app.Namespace, "labels": labels()},
		"data":       data,
	}
	deploymentObject := map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": name, "namespace": app.Namespace, "labels": labels()},
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]any{nameLabel: name}},
			"template": map[string]any{
				"metadata": map[string]any{
					"labels":      map[string]any{nameLabel: name},
					"annotations": map[string]any{configHashAnnotation: configHash(app.Spec)},
				},
				"spec": map[string]any{
					"containers": []any{map[string]any{
						"name":    "app",
						"image":   image,
						"envFrom": []any{map[string]any{"configMapRef": map[string]any{"name": configMapName}}},
					}},
				},
			},
		},
	}

	readyReplicas := int64(0)
	if deployment != nil {
		readyReplicas = int64(deployment.Status.ReadyReplicas)
	}
	var ready metav1.Condition
	switch {
	case deployment == nil:
		ready = readyCondition(app, metav1.ConditionFalse, "Creating", "waiting for Deployment "+name+" to be created", now)
	case readyReplicas >= replicas:
		ready = readyCondition(app, metav1.ConditionTrue, "Available", replicaMessage(readyReplicas, replicas), now)
	default:
		ready = readyCondition(app, metav1.ConditionFalse, "Progressing", replicaMessage(readyReplicas, replicas), now)
	}
	out := rendered{
		children: []map[string]any{configMap, deploymentObject},
		status: AppStatus{
			ConfigMapName: configMapName,
			ReadyReplicas: &readyReplicas,
			Replicas:      &replicas,
			Conditions:    []metav1.Condition{ready},
		},
	}
	if deployment == nil && !configMapExists {
		out.event = &appEvent{"Normal", "Created", fmt.Sprintf("creating ConfigMap %s and Deployment %s", configMapName, name)}
	}
	return out
}

func replicaMessage(ready, replicas int64) string {
	return strconv.FormatInt(ready, 10) + "/" + strconv.FormatInt(replicas, 10) + " replicas ready"
}

// readyCondition keeps the previous transition time while the status stays the same, like the SDK's condition().
func readyCondition(app *App, status metav1.ConditionStatus, reason, message string, now time.Time) metav1.Condition {
	transition := metav1.NewTime(now.UTC().Truncate(time.Second))
	for _, previous := range app.Status.Conditions {
		if previous.Type == "Ready" && previous.Status == status && !previous.LastTransitionTime.IsZero() {
			transition = previous.LastTransitionTime
		}
	}
	condition := metav1.Condition{Type: "Ready", Status: status, LastTransitionTime: transition, Reason: reason, Message: message}
	if app.Generation > 0 {
		condition.ObservedGeneration = app.Generation
	}
	return condition
}

// configHash is FNV-1a (32-bit) over the JSON text of spec.config, then of spec.message; an absent one
// adds nothing. encoding/json writes what the API server wrote (sorted keys, the same escaping), which is
// what the Wasm guest hashes.
func configHash(spec AppSpec) string {
	h := uint32(0x811c9dc5)
	add := func(value any) {
		text, err := json.Marshal(value)
		if err != nil {
			// A map of strings and a string always marshal.
			panic(err)
		}
		for _, b := range text {
			h = (h ^ uint32(b)) * 0x01000193
		}
	}
	if spec.Config != nil {
		add(spec.Config)
	}
	if spec.Message != nil {
		add(*spec.Message)
	}
	return fmt.Sprintf("%08x", h)
}
