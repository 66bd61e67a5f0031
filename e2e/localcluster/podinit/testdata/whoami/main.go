// Command whoami prints what a container process sees of itself; podinit's tests run it
// inside an image root.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
	groups, err := os.Getgroups()
	fmt.Printf("groups=%v err=%v\n", groups, err)
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Println("status:", err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		for _, k := range []string{"CapEff:", "CapAmb:", "CapBnd:", "NoNewPrivs:"} {
			if strings.HasPrefix(l, k) {
				fmt.Println(strings.Join(strings.Fields(l), " "))
			}
		}
	}
	wd, _ := os.Getwd()
	fmt.Println("wd=" + wd)
	h, _ := os.Hostname()
	fmt.Println("hostname=" + h)
	b, err := os.ReadFile("/data/file")
	fmt.Printf("volume=%q err=%v\n", b, err)
	fmt.Printf("rootwrite=%v\n", os.WriteFile("/written", nil, 0o644) != nil)
	_, err = os.Stat("/dev/null")
	fmt.Printf("devnull=%v\n", err == nil)
	fmt.Println("env=" + os.Getenv("FROM_SPEC"))
}
