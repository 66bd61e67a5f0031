package node

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/podinit"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/rootfs"
)

// HostImage runs container commands from the node's PATH inside the pod's namespaces, as
// root, on the node's filesystem. It exists for test clients (curl, sleep, getent) and is no
// image anyone ships: `command` is required.
const HostImage = "local.agentgateway.dev/host"

// imageRepository strips the tag and digest of an image reference.
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i >= 0 && !strings.Contains(image[i:], "/") {
		image = image[:i]
	}
	return image
}

// pulled is what a container runs: an unpacked image, or the host image.
type pulled struct {
	host bool
	img  *rootfs.Image
}

// defaultCaps is containerd's default capability set for containers that do not say.
var defaultCaps = []string{"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
	"SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}

// imageArgv applies Kubernetes' rules: command replaces the entrypoint and drops the image's
// cmd; args alone replace the cmd.
func imageArgv(cfg v1.Config, command, args []string) ([]string, error) {
	var argv []string
	switch {
	case len(command) > 0:
		argv = append(append(argv, command...), args...)
	case len(args) > 0:
		argv = append(append(argv, cfg.Entrypoint...), args...)
	default:
		argv = append(append(argv, cfg.Entrypoint...), cfg.Cmd...)
	}
	if len(argv) == 0 {
		return nil, errors.New("no command specified: the image has no entrypoint or cmd and the container no command")
	}
	return argv, nil
}

// identity works out who a container runs as, from its security context, the pod's, and the
// image's USER, the way the kubelet and runc do. Errors are CreateContainerConfigError.
func identity(pod *corev1.Pod, c *corev1.Container, img *rootfs.Image) (*podinit.Identity, error) {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	uidSet, gidSet := firstInt64(csc.RunAsUser, psc.RunAsUser), firstInt64(csc.RunAsGroup, psc.RunAsGroup)
	nonRoot := csc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	id := &podinit.Identity{}
	user, group, _ := strings.Cut(img.Config.User, ":")
	if uidSet != nil {
		id.UID = uint32(*uidSet)
	} else if user != "" {
		uid, err := strconv.ParseUint(user, 10, 32)
		if err != nil {
			if nonRoot != nil && *nonRoot {
				return nil, fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", user, pod.Namespace+"/"+pod.Name, c.Name)
			}
			u, ok, err := lookupID(filepath.Join(img.Dir, "etc", "passwd"), user, 2)
			if err != nil || !ok {
				return nil, fmt.Errorf("image user %q not found in the image's /etc/passwd: %v", user, err)
			}
			uid = uint64(u)
		}
		id.UID = uint32(uid)
	}
	if nonRoot != nil && *nonRoot && id.UID == 0 {
		return nil, fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
	}
	switch {
	case gidSet != nil:
		id.GID = uint32(*gidSet)
	case group != "" && uidSet == nil:
		gid, err := strconv.ParseUint(group, 10, 32)
		if err != nil {
			g, ok, lerr := lookupID(filepath.Join(img.Dir, "etc", "group"), group, 2)
			if lerr != nil || !ok {
				return nil, fmt.Errorf("image group %q not found in the image's /etc/group: %v", group, lerr)
			}
			gid = uint64(g)
		}
		id.GID = uint32(gid)
	default:
		// The primary group of the uid in the image's /etc/passwd, else 0 (as runc).
		if g, ok, err := primaryGroup(filepath.Join(img.Dir, "etc", "passwd"), id.UID); err == nil && ok {
			id.GID = g
		}
	}
	id.Groups = []uint32{id.GID}
	if psc.FSGroup != nil {
		id.Groups = append(id.Groups, uint32(*psc.FSGroup))
	}
	for _, g := range psc.SupplementalGroups {
		id.Groups = append(id.Groups, uint32(g))
	}
	caps, added, err := capabilities(csc)
	if err != nil {
		return nil, err
	}
	id.Caps = caps
	// As containerd, a non-root user gets none of the default set; unlike containerd, it gets
	// the capabilities the container adds, as ambient ones (no file capabilities needed).
	id.Ambient = added
	id.NoNewPrivs = csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation
	for _, p := range []*corev1.SeccompProfile{psc.SeccompProfile, csc.SeccompProfile} {
		if p != nil && p.Type == corev1.SeccompProfileTypeLocalhost {
			return nil, errors.New("seccomp Localhost profiles are not supported by the local node")
		}
	}
	return id, nil
}

func firstInt64(a, b *int64) *int64 {
	if a != nil {
		return a
	}
	return b
}

// capabilities is containerd's default set, or every capability when privileged, minus drop
// (ALL empties it) plus add (ALL fills it); added lists what add put in.
func capabilities(sc *corev1.SecurityContext) (kept, added []int, err error) {
	set := map[int]bool{}
	all := func() {
		for _, n := range podinit.Capabilities {
			set[n] = true
		}
	}
	if sc.Privileged != nil && *sc.Privileged {
		all()
	} else {
		for _, name := range defaultCaps {
			set[podinit.Capabilities[name]] = true
		}
	}
	if sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Drop {
			if strings.EqualFold(string(c), "ALL") {
				clear(set)
				continue
			}
			n, err := capNumber(c)
			if err != nil {
				return nil, nil, err
			}
			delete(set, n)
		}
		for _, c := range sc.Capabilities.Add {
			if strings.EqualFold(string(c), "ALL") {
				all()
				for _, n := range podinit.Capabilities {
					added = append(added, n)
				}
				continue
			}
			n, err := capNumber(c)
			if err != nil {
				return nil, nil, err
			}
			set[n] = true
			added = append(added, n)
		}
	}
	for n := range set {
		kept = append(kept, n)
	}
	sort.Ints(kept)
	sort.Ints(added)
	return kept, slices.Compact(added), nil
}

func capNumber(c corev1.Capability) (int, error) {
	name := strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_")
	n, ok := podinit.Capabilities[name]
	if !ok {
		return 0, fmt.Errorf("unknown capability %q", c)
	}
	return n, nil
}

// lookupID finds name in a passwd or group file and returns the numeric field at index field.
func lookupID(path, name string, field int) (uint32, bool, error) {
	return numericField(path, field, func(fs []string) bool { return fs[0] == name })
}

// primaryGroup is the gid of the first passwd entry with uid.
func primaryGroup(path string, uid uint32) (uint32, bool, error) {
	id := strconv.FormatUint(uint64(uid), 10)
	return numericField(path, 3, func(fs []string) bool { return len(fs) > 2 && fs[2] == id })
}

// numericField reads the colon-separated file at path (passwd, group) and parses field of the
// first line that has it and that match accepts; ok is false when no line matches.
func numericField(path string, field int, match func([]string) bool) (n uint32, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close() //nolint:errcheck // read only: closing releases it
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) > field && match(fs) {
			v, err := strconv.ParseUint(fs[field], 10, 32)
			return uint32(v), err == nil, err
		}
	}
	return 0, false, sc.Err()
}

// podSysctls returns the pod's sysctls; only net.* ones (namespaced by the pod's network
// namespace) are accepted.
func podSysctls(pod *corev1.Pod) (map[string]string, error) {
	if pod.Spec.SecurityContext == nil || len(pod.Spec.SecurityContext.Sysctls) == 0 {
		return nil, nil
	}
	if pod.Spec.HostNetwork {
		return nil, errors.New("pod sysctls with hostNetwork would change the node's settings")
	}
	out := map[string]string{}
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		name := strings.ReplaceAll(s.Name, "/", ".")
		if !strings.HasPrefix(name, "net.") {
			return nil, fmt.Errorf("sysctl %s: only net.* sysctls are supported by the local node", s.Name)
		}
		out[name] = s.Value
	}
	return out, nil
}
