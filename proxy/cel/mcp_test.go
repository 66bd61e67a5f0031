package cel

import (
	"context"
	"strings"
	"testing"
)

func TestMCPVariable(t *testing.T) {
	p, err := Compile(PhaseMCPAuthorization, KindCondition, `mcp.method == "tools/call" && mcp.tool.name == "search" && mcp.target == "github" && mcp.tool.arguments.repo.startsWith("acme/") && jwt.sub == "alice"`)
	if err != nil {
		t.Fatal(err)
	}
	act := &Activation{JWT: NewJWT(map[string]any{"sub": "alice"}), MCP: &MCP{Method: "tools/call", Target: "github",
		Tool: MCPTool{Name: "search", Arguments: map[string]any{"repo": "acme/tools"}}}}
	ok, err := p.EvalBool(context.Background(), act)
	if err != nil || !ok {
		t.Fatalf("eval = %v, %v", ok, err)
	}
	act.MCP.Tool.Arguments["repo"] = "other/x"
	if ok, err := p.EvalBool(context.Background(), act); err != nil || ok {
		t.Fatalf("eval with another repo = %v, %v", ok, err)
	}
	// Without an mcp value the fields read as empty.
	q, err := Compile(PhaseMCPAuthorization, KindCondition, `!has(mcp.tool.name) && mcp.target == ""`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := q.EvalBool(context.Background(), &Activation{}); err != nil || !ok {
		t.Fatalf("empty mcp = %v, %v", ok, err)
	}
}

func TestMCPVariableChecked(t *testing.T) {
	for expr, want := range map[string]string{
		`mcp.tool.nmae == "x"`:         "undefined field 'nmae' of mcp.tool (did you mean 'mcp.tool.name'?)",
		`mcp.targt == "x"`:             "did you mean 'mcp.target'?",
		`mcp.tool.name == 1`:           "cannot be applied to (string, int)",
		`mcp.method == "x"`:            "",
		`size(mcp.tool.arguments) > 0`: "",
	} {
		_, issues := Check(PhaseMCPAuthorization, KindCondition, expr)
		got := ""
		for _, is := range issues {
			got += is.Message + "; "
		}
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("%s: issues %q, want %q", expr, got, want)
		}
	}
	if _, issues := Check(PhaseAuthorization, KindCondition, `mcp.method == "x"`); len(issues) == 0 || !strings.Contains(issues[0].Message, "only in MCPAuthorization") {
		t.Errorf("mcp outside its phase: %v", issues)
	}
}
