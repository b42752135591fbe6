package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lockstepdb/lockstep/web"
)

// scriptedCluster is a cluster the test drives: its members are what the
// test sets, and their counters grow at every sample, so the per-second
// charts have rates to draw. It also implements web.Control.
type scriptedCluster struct {
	mu      sync.Mutex
	members []web.MemberState
	samples int
	sampled chan struct{} // signalled (without blocking) after each sample
}

func newScriptedCluster(members ...web.MemberState) *scriptedCluster {
	return &scriptedCluster{members: members, sampled: make(chan struct{}, 1)}
}

// threeMembers are m1 (leader in term 2), m2 and m3.
func threeMembers() []web.MemberState {
	var members []web.MemberState
	for i := 1; i <= 3; i++ {
		member := web.MemberState{Name: fmt.Sprintf("m%d", i), ID: fmt.Sprint(i), Up: true, Role: "follower", Term: 2, Leader: "1", Vote: "1"}
		if i == 1 {
			member.Role = "leader"
		}
		members = append(members, member)
	}
	return members
}

// Sample implements web.Cluster.
func (c *scriptedCluster) Sample(context.Context) []web.MemberState {
	c.mu.Lock()
	for i := range c.members {
		if m := &c.members[i]; m.Up {
			m.Proposals += 10
			m.Commit += 10
			m.WriteRequests += 10
			m.WriteLatencySeconds += 0.05
			m.LogWrites += 10
			m.LogWriteSeconds += 0.02
		}
	}
	members := slices.Clone(c.members)
	c.samples++
	c.mu.Unlock()
	select {
	case c.sampled <- struct{}{}:
	default:
	}
	return members
}

// Watch implements web.Cluster: no change signals, the stream samples on
// its own period.
func (c *scriptedCluster) Watch() (<-chan struct{}, func()) { return nil, func() {} }

// Act implements web.Control: partition and heal flip the flag; stop
// does what a graceful stop of lockstep does to a leader, handing
// leadership to m2 in a new term (and letting the page see that) before
// the member goes down and the request returns.
func (c *scriptedCluster) Act(ctx context.Context, action, member string) error {
	c.mu.Lock()
	index := slices.IndexFunc(c.members, func(m web.MemberState) bool { return m.Name == member })
	c.mu.Unlock()
	if index < 0 && action != "heal" {
		return fmt.Errorf("no member %q", member)
	}
	switch action {
	case "partition":
		c.change(func() { c.members[index].Partitioned = true })
	case "heal":
		c.change(func() {
			for i := range c.members {
				c.members[i].Partitioned = false
			}
		})
	case "stop":
		sent := c.change(func() {
			for i := range c.members {
				c.members[i].Term++
				c.members[i].Leader, c.members[i].Vote = "2", "2"
				c.members[i].Role = "follower"
			}
			c.members[1].Role = "leader"
		})
		if err := c.awaitSampleAfter(ctx, sent); err != nil {
			return err
		}
		c.change(func() { c.members[index] = web.MemberState{Name: member, ID: c.members[index].ID, Error: "stopped"} })
	default:
		return fmt.Errorf("unknown action %q", action)
	}
	return nil
}

// change applies edit under the lock and returns the sample count then.
func (c *scriptedCluster) change(edit func()) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	edit()
	return c.samples
}

// awaitSampleAfter waits until a sample taken after the count samples
// went out.
func (c *scriptedCluster) awaitSampleAfter(ctx context.Context, samples int) error {
	for {
		c.mu.Lock()
		done := c.samples > samples
		c.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-c.sampled:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// clickExpression clicks the button of action on member from the page,
// in one go (the page redraws the members several times a second).
func clickExpression(action, member string) string {
	return fmt.Sprintf(`(() => {
		const button = document.querySelector('button[data-action=%q][data-member=%q]');
		if (!button || button.disabled) return false;
		button.click();
		return true;
	})()`, action, member)
}

// The dashboard's charts have axes and thin lines and say they are
// measuring before their first point; "Heal all partitions" shows only
// with a partition; a button press goes on the timeline before what it
// causes (issue 17).
func TestBrowserDashboardChartsHealAndTimeline(t *testing.T) {
	ctx := browser(t)
	cluster := newScriptedCluster(threeMembers()...)
	server := httptest.NewServer(web.Handler(web.Options{Cluster: cluster, Control: cluster}))
	defer func() { server.CloseClientConnections(); server.Close() }()
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+web.Prefix)); err != nil {
		t.Fatal(err)
	}

	// At the first snapshot no rate exists yet: the charts say so.
	first, err := poll[map[string]any](ctx, `document.querySelectorAll("article.member").length === 3 && {
		waiting: [...document.querySelectorAll(".chart .waiting")].filter(e => !e.hidden).length,
		healHidden: document.getElementById("cluster-actions").hidden,
	}`)
	if err != nil {
		t.Fatalf("the page did not show three members: %v", err)
	}
	if first["waiting"] != float64(4) || first["healHidden"] != true {
		t.Errorf("at the first snapshot: %v; want the 4 charts saying they are measuring, and no heal button without a partition", first)
	}

	chart, err := poll[map[string]any](ctx, `(() => {
		const figure = document.querySelector('.chart[data-chart="proposals"]');
		const line = figure.querySelector("polyline");
		if (line.getAttribute("points").split(" ").length < 2) return false;
		const style = getComputedStyle(line);
		return {
			value: document.getElementById("chart-proposals-value").textContent,
			top: document.getElementById("chart-proposals-top").textContent,
			xLabels: [...figure.querySelectorAll(".x-labels span")].map(s => s.textContent),
			axes: figure.querySelectorAll("line.axis").length,
			vectorEffect: style.vectorEffect, strokeWidth: style.strokeWidth,
			waiting: figure.querySelector(".waiting").hidden,
		};
	})()`)
	if err != nil {
		t.Fatalf("the proposals chart drew no line: %v", err)
	}
	if chart["value"] == "–" || chart["top"] == "" || chart["axes"] != float64(2) || chart["vectorEffect"] != "non-scaling-stroke" ||
		chart["strokeWidth"] != "1.5px" || chart["waiting"] != true || fmt.Sprint(chart["xLabels"]) != "[−60 s now]" {
		t.Errorf("the chart: %v; want a value, a scale, two axes, a 1.5px line that does not stretch, the last minute labelled", chart)
	}
	screenshot(t, ctx, "dashboard-charts")

	if _, err := poll[bool](ctx, clickExpression("partition", "m3")); err != nil {
		t.Fatal(err)
	}
	if _, err := poll[bool](ctx, `!document.getElementById("cluster-actions").hidden`); err != nil {
		t.Fatalf("no heal button with m3 partitioned: %v", err)
	}
	if _, err := poll[bool](ctx, `(() => { document.getElementById("heal").click(); return true; })()`); err != nil {
		t.Fatal(err)
	}
	if _, err := poll[bool](ctx, `document.getElementById("cluster-actions").hidden`); err != nil {
		t.Fatalf("the heal button stayed after healing: %v", err)
	}

	if _, err := poll[bool](ctx, clickExpression("stop", "m1")); err != nil {
		t.Fatal(err)
	}
	entries, err := poll[[]string](ctx, `(() => {
		const entries = [...document.querySelectorAll("#timeline li")].map(li => li.textContent);
		return entries.some(e => e.includes("m1 stopped")) && entries;
	})()`)
	if err != nil {
		t.Fatalf("the timeline never showed m1 stopped: %v", err)
	}
	find := func(text string) int {
		return slices.IndexFunc(entries, func(entry string) bool { return strings.Contains(entry, text) })
	}
	press, election := find("stop m1 (button)"), find("term 3: m2 elected leader")
	if press < 0 || election < 0 || election > press {
		t.Errorf("timeline (newest first) %q: want the stop press below the election it caused", entries)
	}
}

// A member's own dashboard shows that member alone, yet names the leader
// it follows from the names it knows, not by raw ID.
func TestBrowserSingleMemberPageNamesOthers(t *testing.T) {
	ctx := browser(t)
	member := web.MemberState{Name: "m1", ID: "a1", Up: true, Role: "follower", Term: 4, Leader: "b2", Vote: "c3",
		Names: map[string]string{"a1": "m1", "b2": "m2", "c3": "m3"}}
	server := httptest.NewServer(web.Handler(web.Options{Cluster: newScriptedCluster(member)}))
	defer func() { server.CloseClientConnections(); server.Close() }()
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+web.Prefix)); err != nil {
		t.Fatal(err)
	}
	fields, err := poll[[]string](ctx, `document.querySelector('[data-field="leader"]') &&
		[document.querySelector('[data-field="leader"]').textContent, document.querySelector('[data-field="voted for"]').textContent]`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(fields) != "[m2 m3]" {
		t.Errorf("leader and vote shown as %q, want the names m2 and m3", fields)
	}
}

// An unknown ?scenario= says so and names the scenarios there are; a
// known one shows no such notice.
func TestBrowserPlaygroundUnknownScenario(t *testing.T) {
	ctx := browser(t)
	server := httptest.NewServer(web.Handler(web.Options{Cluster: noCluster{}}))
	defer func() { server.CloseClientConnections(); server.Close() }()
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+web.Prefix+"playground?scenario=no-such-thing")); err != nil {
		t.Fatal(err)
	}
	notice, err := poll[string](ctx, `document.getElementById("position").dataset.step === "0" && !document.getElementById("notice").hidden &&
		document.getElementById("notice").textContent`)
	if err != nil {
		t.Fatalf("no notice for an unknown scenario: %v", err)
	}
	if !strings.Contains(notice, "no-such-thing") || !strings.Contains(notice, "figure-8") {
		t.Errorf("notice %q: want the unknown name and the list of scenarios", notice)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+web.Prefix+"playground?scenario=election")); err != nil {
		t.Fatal(err)
	}
	if _, err := poll[bool](ctx, `document.getElementById("position").dataset.step === "0" && document.getElementById("scenario").value === "election" && document.getElementById("notice").hidden`); err != nil {
		t.Fatalf("a known scenario: %v", err)
	}
}

// No two message labels in the playground's network overlap, at any step
// of a 5-node scenario where a leader sends to four followers at once.
func TestBrowserPlaygroundMessageLabelsDoNotOverlap(t *testing.T) {
	ctx := browser(t)
	server := httptest.NewServer(web.Handler(web.Options{Cluster: noCluster{}}))
	defer func() { server.CloseClientConnections(); server.Close() }()
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+web.Prefix+"playground?scenario=figure-8&seed=1")); err != nil {
		t.Fatal(err)
	}
	if _, err := poll[bool](ctx, `document.getElementById("position").dataset.step === "0"`); err != nil {
		t.Fatal(err)
	}
	result, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		let overlaps = [], busiest = 0, labels = 0;
		for (let step = 0; step <= 300 && !state.finished; step++) {
			stepTo(step);
			const boxes = [...document.querySelectorAll("#network text.message-label")].map(t => ({ text: t.textContent, box: t.getBBox() }));
			busiest = Math.max(busiest, state.messages ? state.messages.length : 0);
			labels += boxes.length;
			for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
				const a = boxes[i].box, b = boxes[j].box;
				if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) {
					overlaps.push("step " + step + ": " + boxes[i].text + " / " + boxes[j].text);
				}
			}
		}
		return { overlaps: overlaps.slice(0, 5), count: overlaps.length, busiest, labels };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if result["count"] != float64(0) {
		t.Errorf("%v overlapping message labels, first: %v", result["count"], result["overlaps"])
	}
	if busiest, _ := result["busiest"].(float64); busiest < 4 || result["labels"] == float64(0) {
		t.Errorf("the run never had 4 messages in flight with labels drawn: %v", result)
	}
}
