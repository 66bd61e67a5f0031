// Command chart generates the Helm charts under manifests/charts from the kustomize base,
// checks that they are up to date, and packages a release.
//
//	go run ./hack/chart generate            # write the generated chart files (make chart)
//	go run ./hack/chart verify              # fail if they are stale (make verify)
//	go run ./hack/chart release -version 1.2.3 -oci build/oci -out build/release
//
// Run it from the repository root.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agentgateway/agentgateway-go/manifests/charts"
)

const (
	manifestsDir = "manifests"
	chartsDir    = "manifests/charts"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chart generate|verify|release [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "generate":
		err = generate(false)
	case "verify":
		err = generate(true)
	case "release":
		err = release(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: use generate, verify or release", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func generate(check bool) error {
	files, err := charts.Generate(manifestsDir, chartsDir)
	if err != nil {
		return err
	}
	if !check {
		return charts.Write(chartsDir, files)
	}
	stale, err := charts.Stale(chartsDir, files)
	if err != nil {
		return err
	}
	if len(stale) > 0 {
		return fmt.Errorf("generated chart files are stale; run make chart and commit the result:\n  %s", strings.Join(stale, "\n  "))
	}
	fmt.Println("chart: generated files are up to date")
	return nil
}

func release(args []string) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	var o charts.ReleaseOptions
	fs.StringVar(&o.Version, "version", "", "release version (semver, without a leading v)")
	fs.StringVar(&o.OCILayout, "oci", "build/oci", "OCI image layout written by make images")
	fs.StringVar(&o.Repository, "repository", "ghcr.io/agentgateway-go", "registry and path the images are pushed under")
	fs.StringVar(&o.OutDir, "out", "build/release", "output directory")
	epoch := fs.Int64("source-date-epoch", 0, "Unix time stamped on the chart archives' entries (0: the epoch)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.ManifestsDir, o.ChartsDir = manifestsDir, chartsDir
	o.SourceDateEpoch = time.Unix(*epoch, 0).UTC()
	r, err := charts.Release(o)
	if err != nil {
		return err
	}
	for _, p := range r.Files {
		fmt.Println(p)
	}
	return nil
}
