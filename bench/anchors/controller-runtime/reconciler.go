// The App reconciler: reads an App and its owned children from the cache, then writes what render() asks for.
//
// The writes follow the host's executor (host/src/executor/executor.ts) in order and in rule: children by
// server-side apply (one field manager, forced), skipped when this controller applied the same object to
// the same child and the cache still shows all of it; owned children no longer desired pruned; the status
// applied only when it differs from the cached one; the event recorded asynchronously, last.

package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ownerUIDField indexes children by their controller owner's UID, as the host's cache does.
const ownerUIDField = ".metadata.controllerUID"

// appliedEntries bounds the applied memory like the host's DEFAULT_EXECUTOR_LIMITS.appliedEntries.
const appliedEntries = 8192

type AppReconciler struct {
	client client.Client
	// apiReader reads past the cache: whether a primary is really gone after a write failed.
	apiReader    client.Reader
	recorder     record.EventRecorder
	fieldManager string
	applied      *appliedMemory
	now          func() time.Time
}

func controllerUID(obj client.Object) []string {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		return []string{string(ref.UID)}
	}
	return nil
}

func (r *AppReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	app := &App{}
	if err := r.client.Get(ctx, req.NamespacedName, app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if app.DeletionTimestamp != nil {
		// Owner references let the garbage collector remove the children; nothing to clean up here.
		return ctrl.Result{}, nil
	}
	owned, err := r.ownedChildren(ctx, app)
	if err != nil {
		return ctrl.Result{}, err
	}
	var deployment *appsv1.Deployment
	if d, ok := owned["Deployment/"+app.Name]; ok {
		deployment = d.(*appsv1.Deployment)
	}
	_, configMapExists := owned["ConfigMap/"+app.Name+"-config"]
	out := render(app, deployment, configMapExists, r.now())

	// A refused spec reports its condition but changes no child.
	if out.invalid == "" {
		desired := map[string]bool{}
		for _, fields := range out.children {
			child := &unstructured.Unstructured{Object: fields}
			child.SetOwnerReferences([]metav1.OwnerReference{ownerReference(app)})
			key := child.GetKind() + "/" + child.GetName()
			desired[key] = true
			if err := r.apply(ctx, child, owned[key]); err != nil {
				return r.failed(ctx, app, err)
			}
		}
		for key, child := range owned {
			if desired[key] || child.GetDeletionTimestamp() != nil {
				continue
			}
			if err := r.prune(ctx, child); err != nil {
				return ctrl.Result{}, err
			}
		}
	}

	status := out.status
	status.ObservedGeneration = app.Generation
	if !equality.Semantic.DeepEqual(app.Status, status) {
		if err := r.writeStatus(ctx, app, status); err != nil {
			if apierrors.IsNotFound(err) {
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, err
		}
	}
	if out.event != nil {
		r.recorder.Event(app, out.event.eventType, out.event.reason, out.event.message)
	}
	if out.invalid != "" {
		return ctrl.Result{}, reconcile.TerminalError(errors.New(out.invalid))
	}
	return ctrl.Result{}, nil
}

// ownedChildren: the App's controller-owned ConfigMaps and Deployments, keyed "Kind/name".
func (r *AppReconciler) ownedChildren(ctx context.Context, app *App) (map[string]client.Object, error) {
	selector := []client.ListOption{client.InNamespace(app.Namespace), client.MatchingFields{ownerUIDField: string(app.UID)}}
	configMaps := &corev1.ConfigMapList{}
	if err := r.client.List(ctx, configMaps, selector...); err != nil {
		return nil, err
	}
	deployments := &appsv1.DeploymentList{}
	if err := r.client.List(ctx, deployments, selector...); err != nil {
		return nil, err
	}
	owned := make(map[string]client.Object, len(configMaps.Items)+len(deployments.Items))
	for i := range configMaps.Items {
		owned["ConfigMap/"+configMaps.Items[i].Name] = &configMaps.Items[i]
	}
	for i := range deployments.Items {
		owned["Deployment/"+deployments.Items[i].Name] = &deployments.Items[i]
	}
	return owned, nil
}

func ownerReference(app *App) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion:         appGroupVersion.String(),
		Kind:               "App",
		Name:               app.Name,
		UID:                app.UID,
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}
}

func (r *AppReconciler) apply(ctx context.Context, desired *unstructured.Unstructured, observed client.Object) error {
	text, err := json.Marshal(desired.Object)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(text)
	digest := string(sum[:])
	memoryKey := desired.GetKind() + "/" + desired.GetNamespace() + "/" + desired.GetName()
	if observed != nil {
		if record, ok := r.applied.get(memoryKey); ok && record.digest == digest && record.uid == observed.GetUID() {
			if record.verifiedVersion == observed.GetResourceVersion() || r.contains(desired, observed) {
				record.verifiedVersion = observed.GetResourceVersion()
				r.applied.set(memoryKey, record)
				return nil
			}
		}
	}
	// The client decodes the stored object into desired: its uid is the one the next skip is checked against.
	err = r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(desired), client.FieldOwner(r.fieldManager), client.ForceOwnership)
	if err != nil {
		return err
	}
	r.applied.set(memoryKey, appliedRecord{uid: desired.GetUID(), digest: digest})
	return nil
}

// contains: the cached child holds every field of desired.
func (r *AppReconciler) contains(desired *unstructured.Unstructured, observed client.Object) bool {
	fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(observed)
	if err != nil {
		return false
	}
	// Typed cache objects carry no TypeMeta; the lookup by kind already matched it.
	fields["apiVersion"] = desired.GetAPIVersion()
	fields["kind"] = desired.GetKind()
	return isSubset(desired.Object, fields)
}

func (r *AppReconciler) prune(ctx context.Context, child client.Object) error {
	kind := "ConfigMap"
	if _, ok := child.(*appsv1.Deployment); ok {
		kind = "Deployment"
	}
	r.applied.forget(kind + "/" + child.GetNamespace() + "/" + child.GetName())
	uid := child.GetUID()
	err := r.client.Delete(ctx, child, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	// Already gone, or replaced by a same-named object (uid precondition failed): nothing of ours to delete.
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

func (r *AppReconciler) writeStatus(ctx context.Context, app *App, status AppStatus) error {
	fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		return err
	}
	patch := &unstructured.Unstructured{Object: map[string]any{"status": fields}}
	patch.SetAPIVersion(appGroupVersion.String())
	patch.SetKind("App")
	patch.SetName(app.Name)
	patch.SetNamespace(app.Namespace)
	return r.client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(patch), client.FieldOwner(r.fieldManager), client.ForceOwnership)
}

// failed ends the reconcile quietly when a fresh read shows the App gone (or replaced): a child apply
// refused for a gone owner is no error to retry. Any other failure goes back to the queue.
func (r *AppReconciler) failed(ctx context.Context, app *App, err error) (ctrl.Result, error) {
	if !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
		return ctrl.Result{}, err
	}
	fresh := &App{}
	readErr := r.apiReader.Get(ctx, client.ObjectKeyFromObject(app), fresh)
	if apierrors.IsNotFound(readErr) || (readErr == nil && fresh.UID != app.UID) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}
