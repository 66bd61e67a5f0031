package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("1.5s",
// "250ms", "1h2m"), the format Gateway API durations already use.
type Duration struct {
	time.Duration
}

// D is a convenience constructor for tests and for the operator.
func D(d time.Duration) *Duration { return &Duration{d} }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.Duration.String())
}

// UnmarshalJSON accepts only duration strings: a bare number would be
// ambiguous (seconds? nanoseconds?).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a Go duration such as \"1.5s\"): %w", s, err)
	}
	d.Duration = v
	return nil
}
