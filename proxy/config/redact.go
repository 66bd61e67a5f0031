package config

import "encoding/json"

// RedactedValue replaces secret material in Redacted copies.
const RedactedValue = "<redacted>"

// Redacted returns a deep copy of the config with every secret (private
// keys, API keys, htpasswd, tracing export headers) replaced by RedactedValue, safe for
// /config_dump and logs. Certificates and CA bundles are public and kept.
func (c *Config) Redacted() *Config {
	out := c.DeepCopy()
	for bi := range out.Binds {
		for li := range out.Binds[bi].Listeners {
			if t := out.Binds[bi].Listeners[li].TLS; t != nil {
				for ci := range t.Certificates {
					redactKey(&t.Certificates[ci])
				}
			}
			if t := out.Binds[bi].Listeners[li].Tracing; t != nil {
				// Export headers usually carry the collector's credentials.
				for hi := range t.Headers {
					t.Headers[hi].Value = RedactedValue
				}
			}
		}
	}
	for bi := range out.Binds {
		for li := range out.Binds[bi].Listeners {
			for ri := range out.Binds[bi].Listeners[li].HTTPRoutes {
				for ki := range out.Binds[bi].Listeners[li].HTTPRoutes[ri].Rules {
					redactTraffic(out.Binds[bi].Listeners[li].HTTPRoutes[ri].Rules[ki].Traffic)
				}
			}
		}
	}
	for bi := range out.Backends {
		if t := out.Backends[bi].TLS; t != nil && t.ClientCertificate != nil {
			redactKey(t.ClientCertificate)
		}
		if a := out.Backends[bi].Auth; a != nil {
			a.Authorization = RedactedValue
		}
		if m := out.Backends[bi].MCP; m != nil && m.SessionKey != "" {
			m.SessionKey = RedactedValue
		}
	}
	return out
}

func redactKey(c *Certificate) {
	if c.PrivateKey != "" {
		c.PrivateKey = RedactedValue
	}
}

// DeepCopy returns an independent copy. The config is plain data, so a JSON
// round trip is exact and cannot miss a field added later.
func (c *Config) DeepCopy() *Config {
	b, err := json.Marshal(c)
	if err != nil {
		// Only unsupported types can fail to marshal, and Config has none.
		panic("config: deep copy: " + err.Error())
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		panic("config: deep copy: " + err.Error())
	}
	return &out
}

func redactTraffic(t *TrafficPolicy) {
	if t == nil {
		return
	}
	if a := t.APIKeyAuthentication; a != nil {
		for i := range a.Keys {
			a.Keys[i].Key = RedactedValue
		}
	}
	if b := t.BasicAuthentication; b != nil && b.Htpasswd != "" {
		b.Htpasswd = RedactedValue
	}
}
