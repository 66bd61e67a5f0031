package validation

// NotEnforcedFields are the paths of the policy fields that are accepted but not enforced.
func NotEnforcedFields() []string {
	out := make([]string, len(notEnforced))
	for i, f := range notEnforced {
		out[i] = f.path
	}
	return out
}
