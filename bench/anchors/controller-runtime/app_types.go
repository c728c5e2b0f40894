// The App custom resource (demo.wasmreconciler.dev/v1alpha1, examples/configmap-app/crd.yaml) as Go types.
//
// Typed, as a kubebuilder project would have it; DeepCopy is written out by hand because the module has no
// code generator step (controller-gen would write the same methods).

package main

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var appGroupVersion = schema.GroupVersion{Group: "demo.wasmreconciler.dev", Version: "v1alpha1"}

// App is one application: its spec becomes a ConfigMap and a Deployment.
type App struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AppSpec   `json:"spec"`
	Status            AppStatus `json:"status,omitempty"`
}

// AppSpec: pointers and a nil map keep "absent" apart from a zero value, as the guest's JSON reader does.
type AppSpec struct {
	Image    string            `json:"image"`
	Replicas *int64            `json:"replicas,omitempty"`
	Message  *string           `json:"message,omitempty"`
	Config   map[string]string `json:"config,omitempty"`
}

// AppStatus is what the reconciler reports. An invalid spec reports only its condition, so the other
// fields are optional rather than zero.
type AppStatus struct {
	ConfigMapName      string             `json:"configMapName,omitempty"`
	ReadyReplicas      *int64             `json:"readyReplicas,omitempty"`
	Replicas           *int64             `json:"replicas,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
}

// AppList is the list kind the cache's informer needs.
type AppList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []App `json:"items"`
}

func addAppTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(appGroupVersion, &App{}, &AppList{})
	metav1.AddToGroupVersion(scheme, appGroupVersion)
	return nil
}

func (in *App) DeepCopyInto(out *App) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

func (in *App) DeepCopy() *App {
	if in == nil {
		return nil
	}
	out := new(App)
	in.DeepCopyInto(out)
	return out
}

func (in *App) DeepCopyObject() runtime.Object { return in.DeepCopy() }

func (in *AppSpec) DeepCopyInto(out *AppSpec) {
	*out = *in
	if in.Replicas != nil {
		out.Replicas = new(int64)
		*out.Replicas = *in.Replicas
	}
	if in.Message != nil {
		out.Message = new(string)
		*out.Message = *in.Message
	}
	if in.Config != nil {
		out.Config = make(map[string]string, len(in.Config))
		for k, v := range in.Config {
			out.Config[k] = v
		}
	}
}

func (in *AppStatus) DeepCopyInto(out *AppStatus) {
	*out = *in
	if in.ReadyReplicas != nil {
		out.ReadyReplicas = new(int64)
		*out.ReadyReplicas = *in.ReadyReplicas
	}
	if in.Replicas != nil {
		out.Replicas = new(int64)
		*out.Replicas = *in.Replicas
	}
	if in.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

func (in *AppList) DeepCopyInto(out *AppList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]App, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

func (in *AppList) DeepCopyObject() runtime.Object {
	if in == nil {
		return nil
	}
	out := new(AppList)
	in.DeepCopyInto(out)
	return out
}
