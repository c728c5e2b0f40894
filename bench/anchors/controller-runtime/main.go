// The configmap-app controller on controller-runtime: the anchor bench/anchors.ts measures the host against.
//
// One manager, one controller for Apps in one namespace, owning ConfigMaps and Deployments; set up as a
// kubebuilder project would be (metrics and health endpoints, zap logging), with the two cache settings
// the host has too: scoped to the namespace, managedFields stripped. Client-side rate limiting is off,
// controller-runtime's default, as the host has none.
//
//	configmap-app-controller --namespace NS [--workers N] [--kubeconfig FILE]

package main

import (
	"flag"
	"os"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// fieldManager and the event source: one name for every write, like the host's wasm-reconciler/<name>.
const fieldManager = "configmap-app"

// primaryChanged mirrors the host's primary predicate (host/src/mapping/predicate.ts): creation, deletion
// and spec changes (generation), the deletionTimestamp appearing, finalizer changes; never status alone.
var primaryChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, after := e.ObjectOld, e.ObjectNew
		return before.GetGeneration() != after.GetGeneration() ||
			(after.GetDeletionTimestamp() != nil && before.GetDeletionTimestamp() == nil) ||
			!slices.Equal(before.GetFinalizers(), after.GetFinalizers())
	},
}

func main() {
	var namespace, metricsAddr, probeAddr string
	var workers int
	flag.StringVar(&namespace, "namespace", "", "namespace whose Apps are reconciled (required)")
	flag.IntVar(&workers, "workers", 1, "concurrent reconciles")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", `metrics endpoint address; "0" disables it`)
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "health probe endpoint address")
	zapOptions := zap.Options{}
	zapOptions.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOptions)))
	log := ctrl.Log.WithName("setup")
	if namespace == "" {
		log.Error(nil, "--namespace is required")
		os.Exit(2)
	}
	if err := run(namespace, workers, metricsAddr, probeAddr); err != nil {
		log.Error(err, "controller stopped")
		os.Exit(1)
	}
}

func run(namespace string, workers int, metricsAddr, probeAddr string) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := addAppTypes(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme: scheme,
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{namespace: {}},
			DefaultTransform:  cache.TransformStripManagedFields(),
		},
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
	})
	if err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	for _, kind := range []client.Object{&corev1.ConfigMap{}, &appsv1.Deployment{}} {
		if err := mgr.GetFieldIndexer().IndexField(ctx, kind, ownerUIDField, controllerUID); err != nil {
			return err
		}
	}
	reconciler := &AppReconciler{
		client:    mgr.GetClient(),
		apiReader: mgr.GetAPIReader(),
		// core/v1 Events, the kind the host writes, so both sides make the same requests for them.
		recorder:     mgr.GetEventRecorderFor(fieldManager), //nolint:staticcheck
		fieldManager: fieldManager,
		applied:      newAppliedMemory(appliedEntries),
		now:          time.Now,
	}
	err = ctrl.NewControllerManagedBy(mgr).
		For(&App{}, builder.WithPredicates(primaryChanged)).
		Owns(&corev1.ConfigMap{}).
		Owns(&appsv1.Deployment{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(reconciler)
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
