// Package status writes what translation concluded back to the objects: GatewayClass,
// Gateway (with listeners and addresses), ListenerSet, routes, policies and
// AgentgatewayBackends. Only the leader runs it.
//
// Translation is pure and has no clock, so this is where time enters: a condition keeps its
// LastTransitionTime unless its status changed. Each object is compared with the cached copy
// and written only when its status differs, so a reconcile that changes nothing writes
// nothing (status writes are the dominant cost of a large route count). A Gateway whose
// status would change only in listeners' attachedRoutes is written at most every
// AttachedRoutesInterval (250ms by default; the caller writes it again when TakeDue says):
// without that, routes added one after another cost a Gateway write each, and the conflicts
// of writing the same object back to back before the cache has seen the previous write.
//
// Programmed is the one condition translation cannot decide: it says "translated" and this
// package turns it into "a proxy of this Gateway acknowledged a config reflecting the
// Gateway's current generation" through the Programmed function (configserver).
//
// Gateway addresses come from the proxy Service, matched to spec.addresses one entry to one
// address (assignAddresses, GEP-5093): every status address carries its routability (the
// cluster IP as Cluster, a load balancer or external address as empty), and the
// AddressesAssigned condition says whether every, some or no requested address is assigned;
// with none, Programmed is False with reason AddressNotAssigned.
//
// Entries of other controllers (route parents, policy ancestors) are left as they are.
package status
