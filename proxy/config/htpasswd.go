package config

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ParseHtpasswd parses htpasswd lines ("user:hash"), accepting bcrypt and
// {SHA} hashes; blank lines and "#" comments are skipped. It returns the
// hash per user.
func ParseHtpasswd(data string) (map[string]string, error) {
	users := map[string]string{}
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || hash == "" {
			return nil, fmt.Errorf("line %d: want user:hash", i+1)
		}
		switch {
		case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
			if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				return nil, fmt.Errorf("line %d (user %q): malformed bcrypt hash: %v", i+1, user, err)
			}
		case strings.HasPrefix(hash, "{SHA}"):
			if d, err := base64.StdEncoding.DecodeString(hash[len("{SHA}"):]); err != nil || len(d) != sha1.Size {
				return nil, fmt.Errorf("line %d (user %q): {SHA} hash is not a base64 SHA-1 digest", i+1, user)
			}
		default:
			return nil, fmt.Errorf("line %d (user %q): unsupported hash; use bcrypt (htpasswd -B) or {SHA}", i+1, user)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("line %d: duplicate user %q", i+1, user)
		}
		users[user] = hash
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("no users")
	}
	return users, nil
}
