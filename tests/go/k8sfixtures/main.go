// k8sfixtures writes the Kubernetes JSON documents cpgo's kubernetes_sd tests serve, built
// from the official Go types (k8s.io/api, k8s.io/apimachinery) and encoded with
// encoding/json exactly as the API server's JSON serializer does for these types, so the
// test API server (tests/support/fake_k8s.py) speaks the real shapes: field names,
// omitempty, RFC 3339 timestamps, nil vs empty, the WatchEvent and Status envelopes.
//
//	k8sfixtures -o DIR
//
// The files are committed in tests/fixtures/k8s/; tests/integration/k8s_fixtures.sh runs
// this program again and compares, so they cannot drift from the types.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// A fixed clock: the files must be the same on every run.
var t0 = metav1.NewTime(time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC))

func ptr[T any](v T) *T { return &v }

func tcp(name string, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
}

// pod builds a pod as the kubelet reports it; the fake server renames and renumbers it.
func pod(name string, phase corev1.PodPhase, ready corev1.ConditionStatus, ip string,
	containers ...corev1.Container) corev1.Pod {
	p := corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			Namespace:         "prod",
			UID:               types.UID("6f1c2a9e-0000-4000-8000-" + "0000000000" + name[len(name)-2:]),
			ResourceVersion:   "1",
			CreationTimestamp: t0,
			Labels:            map[string]string{"app": "checkout", "pod-template-hash": "7d9f8c6b5"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
				Name: "checkout-7d9f8c6b5", UID: "0b7c5d1e-1111-4111-8111-111111111111",
				Controller: ptr(true), BlockOwnerDeletion: ptr(true)}},
		},
		Spec: corev1.PodSpec{
			Containers:         containers,
			RestartPolicy:      corev1.RestartPolicyAlways,
			ServiceAccountName: "default",
			NodeName:           "node-a",
		},
		Status: corev1.PodStatus{Phase: phase, QOSClass: corev1.PodQOSBurstable},
	}
	if phase != corev1.PodPending || ip != "" {
		p.Status.HostIP = "192.168.10.2"
		p.Status.HostIPs = []corev1.HostIP{{IP: "192.168.10.2"}}
		p.Status.StartTime = &t0
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: t0},
			{Type: corev1.PodReady, Status: ready, LastTransitionTime: t0},
			{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: t0},
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0},
		}
	} else {
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0},
		}
	}
	if ip != "" {
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	for _, c := range containers {
		st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "", Ready: ready == corev1.ConditionTrue}
		if phase == corev1.PodRunning {
			st.State.Running = &corev1.ContainerStateRunning{StartedAt: t0}
			st.Started = ptr(true)
		} else {
			st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
	}
	return p
}

func container(name string, ports ...corev1.ContainerPort) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example/" + name + ":1.4.2", Ports: ports}
}

func slice(name string) discoveryv1.EndpointSlice {
	ep := func(ip string, ready, terminating *bool, pod string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: ready, Terminating: terminating},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "prod", Name: pod, UID: "6f1c2a9e-0000-4000-8000-00000000aa01"},
			NodeName:   ptr("node-a"),
			Zone:       ptr("zone-a"),
		}
	}
	return discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{Kind: "EndpointSlice", APIVersion: "discovery.k8s.io/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "prod", UID: "9a8b7c6d-2222-4222-8222-222222222222",
			ResourceVersion: "1", Generation: 3, CreationTimestamp: t0,
			Labels: map[string]string{"kubernetes.io/service-name": "checkout",
				"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			ep("10.2.0.1", ptr(true), ptr(false), "checkout-a1"),
			ep("10.2.0.2", ptr(false), ptr(false), "checkout-a2"),
			ep("10.2.0.3", nil, nil, "checkout-a3"),              // nil ready = ready
			ep("10.2.0.4", ptr(false), ptr(true), "checkout-a4"), // terminating
		},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)},
			{Name: ptr("pprof"), Port: ptr(int32(6060)), Protocol: ptr(corev1.ProtocolTCP)},
		},
	}
}

func event(typ string, obj runtime.Object) metav1.WatchEvent {
	raw, err := json.Marshal(obj)
	if err != nil {
		log.Fatal(err)
	}
	return metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: raw}}
}

func status(code int32, reason metav1.StatusReason, msg string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: code,
	}
}

func main() {
	out := flag.String("o", ".", "output directory")
	flag.Parse()
	write := func(name string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*out, name), append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	pods := map[string]corev1.Pod{
		// Running, Ready, one container with one named TCP port
		"pod-ready": pod("checkout-7d9f8c6b5-ab01", corev1.PodRunning, corev1.ConditionTrue,
			"10.1.0.1", container("app", tcp("pprof", 6060))),
		// two containers, two ports: the port must be named
		"pod-two-ports": pod("checkout-7d9f8c6b5-ab02", corev1.PodRunning, corev1.ConditionTrue,
			"10.1.0.2", container("app", tcp("http", 8080)), container("debug", tcp("pprof", 6061))),
		// no declared port: only a number works
		"pod-no-ports": pod("checkout-7d9f8c6b5-ab03", corev1.PodRunning, corev1.ConditionTrue,
			"10.1.0.3", container("app")),
		// a UDP port beside the one TCP port
		"pod-udp": pod("checkout-7d9f8c6b5-ab04", corev1.PodRunning, corev1.ConditionTrue,
			"10.1.0.4", container("app", tcp("pprof", 6060),
				corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP})),
		"pod-not-ready": pod("checkout-7d9f8c6b5-ab05", corev1.PodRunning, corev1.ConditionFalse,
			"10.1.0.5", container("app", tcp("pprof", 6060))),
		"pod-pending": pod("checkout-7d9f8c6b5-ab06", corev1.PodPending, corev1.ConditionFalse,
			"", container("app", tcp("pprof", 6060))),
		"pod-succeeded": pod("checkout-7d9f8c6b5-ab07", corev1.PodSucceeded, corev1.ConditionFalse,
			"10.1.0.7", container("app", tcp("pprof", 6060))),
	}
	term := pod("checkout-7d9f8c6b5-ab08", corev1.PodRunning, corev1.ConditionTrue, "10.1.0.8",
		container("app", tcp("pprof", 6060)))
	term.DeletionTimestamp = &t0
	term.DeletionGracePeriodSeconds = ptr(int64(30))
	pods["pod-terminating"] = term
	v6 := pod("checkout-7d9f8c6b5-ab09", corev1.PodRunning, corev1.ConditionTrue, "fd00:10:1::9",
		container("app", tcp("pprof", 6060)))
	pods["pod-ipv6"] = v6
	for name, p := range pods {
		write(name+".json", p)
	}
	ready := pods["pod-ready"]
	write("podlist.json", corev1.PodList{
		TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: "10245", Continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAyNDUsInN0YXJ0IjoiY2hlY2tvdXQtYWIwMlx1MDAwMCJ9"},
		Items:    []corev1.Pod{ready},
	})
	es := slice("checkout-x7k2p")
	write("endpointslice.json", es)
	write("endpointslicelist.json", discoveryv1.EndpointSliceList{
		TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: "10245"},
		Items:    []discoveryv1.EndpointSlice{es},
	})
	write("watch-added.json", event("ADDED", &ready))
	// a bookmark carries an object of the watched kind with only its resourceVersion
	write("watch-bookmark.json", event("BOOKMARK", &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{ResourceVersion: "10300"},
	}))
	write("watch-error-410.json", event("ERROR",
		status(410, metav1.StatusReasonExpired, "too old resource version: 10245 (10300)")))
	write("status-401.json", status(401, metav1.StatusReasonUnauthorized, "Unauthorized"))
	write("status-403.json", status(403, metav1.StatusReasonForbidden,
		`pods is forbidden: User "system:serviceaccount:prod:cpgo" cannot list resource "pods" in API group "" in the namespace "prod"`))
	write("status-410.json", status(410, metav1.StatusReasonGone,
		"The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."))
	write("status-500.json", status(500, metav1.StatusReasonInternalError,
		"Internal error occurred: etcdserver: request timed out"))
}
