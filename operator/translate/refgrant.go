package translate

// referenceAllowed reports whether an object of fromGroup/fromKind in namespace fromNs may
// reference toGroup/toKind named toName in namespace toNs: always within a namespace, and
// across namespaces only when a ReferenceGrant in toNs allows it (ReferenceGrant lives on the
// "to" side so the owner of the target decides).
func (t *translator) referenceAllowed(fromGroup, fromKind, fromNs, toGroup, toKind, toNs, toName string) bool {
	if fromNs == toNs {
		return true
	}
	for _, g := range t.ix.grantsByNs[toNs] {
		fromOK := false
		for _, f := range g.Spec.From {
			if string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNs {
				fromOK = true
				break
			}
		}
		if !fromOK {
			continue
		}
		for _, to := range g.Spec.To {
			if string(to.Group) == toGroup && string(to.Kind) == toKind && (to.Name == nil || *to.Name == "" || string(*to.Name) == toName) {
				return true
			}
		}
	}
	return false
}
