// Structural comparison that decides whether an apply would change anything (host/src/executor/internal/compare.ts).

package main

// isSubset: every field present in desired has the same value in observed. Fields only observed has
// (server defaults, other managers' fields) are ignored; arrays match element by element with equal length;
// null in desired never matches, because in an apply it asks for a removal the observed state cannot confirm.
func isSubset(desired, observed any) bool {
	switch d := desired.(type) {
	case nil:
		return false
	case []any:
		o, ok := observed.([]any)
		if !ok || len(o) != len(d) {
			return false
		}
		for i := range d {
			if !isSubset(d[i], o[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		o, ok := observed.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range d {
			ov, present := o[k]
			if !present || !isSubset(v, ov) {
				return false
			}
		}
		return true
	default:
		dn, dIsNumber := number(desired)
		on, oIsNumber := number(observed)
		if dIsNumber || oIsNumber {
			return dIsNumber && oIsNumber && dn == on
		}
		return desired == observed
	}
}

// number: the unstructured converter yields int64 where the desired objects hold int64 or int.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
