package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTopicElectLeaders runs topic elect-leaders against a real standalone
// broker, where every leader is its preferred replica already: nothing is
// needed, which is not a failure; an unknown topic and a bad --type are.
func TestTopicElectLeaders(t *testing.T) {
	c := cli{t, startCairn(t)}
	c.ok("", "topic", "create", "orders", "--partitions", "2")
	if out := c.ok("", "topic", "elect-leaders"); out != "no partition needed an election\n" {
		t.Errorf("elect-leaders, everything balanced: %q", out)
	}
	out := c.ok("", "topic", "elect-leaders", "orders")
	mustContain(t, "elect-leaders orders", out, "orders  0          not needed (ELECTION_NOT_NEEDED)", "orders  1          not needed")
	var doc struct {
		Type    string
		Results []electionRow
	}
	if err := json.Unmarshal([]byte(c.ok("", "topic", "elect-leaders", "orders", "--type", "unclean", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Type != "unclean" || len(doc.Results) != 2 || !doc.Results[1].NotNeeded || doc.Results[1].Partition != 1 {
		t.Errorf("--json: %+v", doc)
	}
	r := c.run("", "topic", "elect-leaders", "orders", "nosuch")
	if r.err == nil || !strings.Contains(r.stdout, "nosuch  -") || !strings.Contains(r.err.Error(), "1 of 3 elections not held") {
		t.Errorf("an unknown topic: err %v, stdout:\n%s", r.err, r.stdout)
	}
	if r := c.run("", "topic", "elect-leaders", "--type", "clean"); r.err == nil || !strings.Contains(r.err.Error(), `--type "clean": want preferred or unclean`) {
		t.Errorf("--type clean: err %v", r.err)
	}
}
