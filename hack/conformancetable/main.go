// Command conformancetable renders README.md's conformance tables from the conformance report
// (e2e/conformance-report.yaml, written by `make conformance`): the per-profile results, the
// extended features each profile supports, and a sentence naming the report's date, suite
// version and the commit it was produced from. The rendered text replaces what lies between
// the marker comments BeginMarker and EndMarker in the README.
//
//	go run ./hack/conformancetable          rewrite README.md (hack/conformance.sh runs this)
//	go run ./hack/conformancetable -check   fail if README.md differs from the rendering (make verify)
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	report := flag.String("report", "e2e/conformance-report.yaml", "conformance report to render")
	readme := flag.String("readme", "README.md", "file holding the marker comments")
	check := flag.Bool("check", false, "only check that the file matches the rendering; exit 1 when not")
	flag.Parse()
	if err := run(*report, *readme, *check); err != nil {
		fmt.Fprintln(os.Stderr, "conformancetable:", err)
		os.Exit(1)
	}
}

func run(reportPath, readmePath string, check bool) error {
	rb, err := os.ReadFile(reportPath)
	if err != nil {
		return err
	}
	rep, err := parseReport(rb)
	if err != nil {
		return fmt.Errorf("%s: %w", reportPath, err)
	}
	old, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	updated, err := splice(string(old), render(rep))
	if err != nil {
		return fmt.Errorf("%s: %w", readmePath, err)
	}
	if updated == string(old) {
		return nil
	}
	if check {
		return fmt.Errorf("%s: conformance tables differ from %s; run `go run ./hack/conformancetable`", readmePath, reportPath)
	}
	info, err := os.Stat(readmePath)
	if err != nil {
		return err
	}
	return os.WriteFile(readmePath, []byte(updated), info.Mode().Perm())
}
