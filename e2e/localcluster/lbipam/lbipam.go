// Package lbipam gives Services of type LoadBalancer an address, like cloud-provider-kind or
// MetalLB do on other local clusters: it writes status.loadBalancer.ingress from a pool that
// exists only on the cluster bridge, and kube-proxy routes those addresses to the endpoints.
// Which address a Service holds is read back from the Services themselves, so the allocator
// keeps no state of its own and survives restarts.
package lbipam

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Pool is an inclusive IPv4 range.
type Pool struct{ First, Last net.IP }

func (p Pool) contains(ip net.IP) bool {
	v := ip.To4()
	return v != nil && cmp4(v, p.First.To4()) >= 0 && cmp4(v, p.Last.To4()) <= 0
}

func cmp4(a, b net.IP) int {
	for i := 0; i < 4; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func next(ip net.IP) net.IP {
	v := append(net.IP{}, ip.To4()...)
	for i := 3; i >= 0; i-- {
		v[i]++
		if v[i] != 0 {
			break
		}
	}
	return v
}

// Run assigns addresses until ctx ends.
func Run(ctx context.Context, client kubernetes.Interface, pool Pool, logf func(string, ...any)) {
	f := informers.NewSharedInformerFactory(client, 10*time.Minute)
	inf := f.Core().V1().Services()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if k, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			q.Add(k)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, o any) { enqueue(o) },
	}); err != nil {
		logf("lbipam: watching Services: %v", err)
		return
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return
	}
	go func() { <-ctx.Done(); q.ShutDown() }()
	var mu sync.Mutex // one assignment at a time: the free address is computed from the cache
	for {
		k, quit := q.Get()
		if quit {
			return
		}
		mu.Lock()
		err := assign(ctx, client, inf.Lister().List, k, pool)
		mu.Unlock()
		if err != nil {
			logf("lbipam: %s: %v", k, err)
			q.AddRateLimited(k)
		} else {
			q.Forget(k)
		}
		q.Done(k)
	}
}

func assign(ctx context.Context, client kubernetes.Interface, list func(labels.Selector) ([]*corev1.Service, error), k string, pool Pool) error {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return err
	}
	all, err := list(labels.Everything())
	if err != nil {
		return err
	}
	var svc *corev1.Service
	used := map[string]string{}
	for _, s := range all {
		if s.Namespace == ns && s.Name == name {
			svc = s
		}
		for _, in := range s.Status.LoadBalancer.Ingress {
			used[in.IP] = s.Namespace + "/" + s.Name
		}
	}
	if svc == nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.LoadBalancerClass != nil {
		return nil
	}
	want := svc.Spec.LoadBalancerIP
	if in := svc.Status.LoadBalancer.Ingress; len(in) > 0 && (want == "" || in[0].IP == want) {
		return nil
	}
	var ip net.IP
	if want != "" {
		w := net.ParseIP(want)
		var why error
		if w == nil || !pool.contains(w) {
			why = fmt.Errorf("spec.loadBalancerIP %s is outside the local pool %s-%s", want, pool.First, pool.Last)
		} else if owner, taken := used[w.String()]; taken && owner != k {
			why = fmt.Errorf("spec.loadBalancerIP %s is held by %s", want, owner)
		}
		if why != nil {
			// An address assigned before the request changed is no longer what was asked for.
			if len(svc.Status.LoadBalancer.Ingress) > 0 {
				s := svc.DeepCopy()
				s.Status.LoadBalancer.Ingress = nil
				if _, err := client.CoreV1().Services(ns).UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
					return err
				}
			}
			return why
		}
		ip = w
	} else {
		for c := pool.First.To4(); pool.contains(c); c = next(c) {
			if _, taken := used[c.String()]; !taken {
				ip = c
				break
			}
		}
	}
	if ip == nil {
		return fmt.Errorf("LoadBalancer pool %s-%s is exhausted", pool.First, pool.Last)
	}
	s := svc.DeepCopy()
	mode := corev1.LoadBalancerIPModeVIP
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip.String(), IPMode: &mode}}
	_, err = client.CoreV1().Services(ns).UpdateStatus(ctx, s, metav1.UpdateOptions{})
	return err
}
