package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockstepdb/lockstep/internal/freeport"
	"github.com/lockstepdb/lockstep/web"
	"github.com/lockstepdb/lockstep/web/devcluster"
)

// noCluster serves the playground alone: the dashboard shows no member.
type noCluster struct{}

func (noCluster) Sample(context.Context) []web.MemberState { return nil }
func (noCluster) Watch() (<-chan struct{}, func())         { return nil, func() {} }

// The browser tests drive headless Chromium (Debian's chromium package)
// against the real pages. Without Chromium they skip, except under CI,
// where they fail. Screenshots go to $LOCKSTEP_ARTIFACTS (or a temporary
// directory); with LOCKSTEP_UPDATE_SCREENSHOTS=1 they also replace the
// README's pictures in docs/images.

// browser starts headless Chromium and returns a context for chromedp.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("LOCKSTEP_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if found, err := exec.LookPath(name); err == nil {
				path = found
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is required under CI (apt-get install -y chromium)")
		}
		t.Skip("no Chromium found (apt-get install -y chromium, or set LOCKSTEP_CHROMIUM)")
	}
	options := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()))
	allocator, cancelAllocator := chromedp.NewExecAllocator(context.Background(), options...)
	ctx, cancelBrowser := chromedp.NewContext(allocator)
	ctx, cancelTimeout := context.WithTimeout(ctx, 50*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAllocator() })
	return ctx
}

// screenshot saves the page as name.png among the artifacts.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	picture, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	directory := os.Getenv("LOCKSTEP_ARTIFACTS")
	if directory == "" {
		directory = t.TempDir()
	}
	targets := []string{filepath.Join(directory, name+".png")}
	if os.Getenv("LOCKSTEP_UPDATE_SCREENSHOTS") == "1" {
		targets = append(targets, filepath.Join("..", "docs", "images", name+".png"))
	}
	for _, target := range targets {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, picture, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", target)
	}
}

// poll waits (bounded by ctx) until the JavaScript expression is truthy and
// returns its value.
func poll[T any](ctx context.Context, expression string) (T, error) {
	return chromedp.Run(ctx, chromedp.Poll[T](expression, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
}

// freePorts returns n ports that no other caller of freeport got.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		port, err := freeport.Port()
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, port)
	}
	return ports
}

// leaderExpression yields "name:term" when the page shows three members
// and exactly one leader (other than excluded), or false.
func leaderExpression(excluded string) string {
	return fmt.Sprintf(`(() => {
		const members = document.querySelectorAll("article.member");
		const leaders = document.querySelectorAll('article.member[data-role="leader"]');
		if (members.length !== 3 || leaders.length !== 1 || leaders[0].dataset.member === %q) return false;
		return leaders[0].dataset.member + ":" + leaders[0].dataset.term;
	})()`, excluded)
}

func splitLeader(t *testing.T, value string) (string, uint64) {
	t.Helper()
	name, termText, _ := strings.Cut(value, ":")
	term, err := strconv.ParseUint(termText, 10, 64)
	if err != nil {
		t.Fatalf("leader %q: %v", value, err)
	}
	return name, term
}

func TestBrowserDashboardStopLeaderElectsAnother(t *testing.T) {
	ctx := browser(t)
	ports := freePorts(t, 9)
	config := devcluster.Config{
		DataDirectory: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		HeartbeatInterval: 50 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond, WALSegmentBytes: 1 << 20,
	}
	for i := range 3 {
		config.Members = append(config.Members, devcluster.Member{Name: fmt.Sprintf("m%d", i+1), Client: ports[3*i], Peer: ports[3*i+1], Admin: ports[3*i+2]})
	}
	cluster, err := devcluster.Start(config)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cluster.Stop(stop)
	}()
	server := httptest.NewServer(cluster.Handler())
	// The page's event stream stays open until the browser goes.
	defer func() { server.CloseClientConnections(); server.Close() }()

	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+"/")); err != nil {
		t.Fatal(err)
	}
	first, err := poll[string](ctx, leaderExpression(""))
	if err != nil {
		t.Fatalf("no page with three members and one leader: %v", err)
	}
	oldLeader, oldTerm := splitLeader(t, first)
	screenshot(t, ctx, "dashboard")

	// The page redraws the members several times a second, so a node
	// chromedp found may be replaced before its click lands: click from
	// the page itself, in one go.
	stopButton := fmt.Sprintf(`(() => {
		const button = document.querySelector('button[data-action="stop"][data-member=%q]');
		if (!button || button.disabled) return false;
		button.click();
		return true;
	})()`, oldLeader)
	if _, err := poll[bool](ctx, stopButton); err != nil {
		t.Fatalf("click stop on %s: %v", oldLeader, err)
	}
	second, err := poll[string](ctx, leaderExpression(oldLeader))
	if err != nil {
		t.Fatalf("no new leader after stopping %s: %v", oldLeader, err)
	}
	newLeader, newTerm := splitLeader(t, second)
	if newTerm <= oldTerm {
		t.Errorf("new leader %s has term %d, not above the old leader %s's %d", newLeader, newTerm, oldLeader, oldTerm)
	}
	if _, err := poll[bool](ctx, fmt.Sprintf(`document.querySelector('article.member[data-member=%q]').dataset.up === "false"`, oldLeader)); err != nil {
		t.Errorf("the stopped member %s is not shown down: %v", oldLeader, err)
	}
	screenshot(t, ctx, "dashboard-after-stop")
}

func TestBrowserPlaygroundQuorumEntrySurvives(t *testing.T) {
	ctx := browser(t)
	server := httptest.NewServer(web.Handler(web.Options{Cluster: noCluster{}}))
	defer func() { server.CloseClientConnections(); server.Close() }()
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+"/dashboard/playground?scenario=quorum-survives&seed=1")); err != nil {
		t.Fatal(err)
	}
	if _, err := poll[bool](ctx, `document.getElementById("position").dataset.step === "0" && document.querySelectorAll(".log").length === 3`); err != nil {
		t.Fatalf("the playground did not load: %v", err)
	}
	// Step forward twice and back once, then run to the end.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("forward")), chromedp.Click(chromedp.ID("forward")), chromedp.Click(chromedp.ID("back"))); err != nil {
		t.Fatal(err)
	}
	// Read the step through JavaScript: chromedp's cached copy of an
	// attribute follows the page through asynchronous DOM events and can
	// still show the step before the last click (a CI run saw 2 here).
	step, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("position").dataset.step`))
	if err != nil {
		t.Fatal(err)
	}
	if step != "1" {
		t.Errorf("after forward, forward, back the page is at step %s, want 1", step)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("end"))); err != nil {
		t.Fatal(err)
	}
	if _, err := poll[bool](ctx, `document.getElementById("position").dataset.finished === "true"`); err != nil {
		t.Fatalf("the scenario did not finish: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]string](`[...document.querySelectorAll(".log")].map(r => ({node: r.dataset.node, log: r.dataset.log, commit: r.dataset.commit}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d log rows, want 3", len(rows))
	}
	for _, row := range rows {
		entries := strings.Split(row["log"], ",")
		if !strings.Contains(","+row["log"]+",", ",x=1,") || row["commit"] != strconv.Itoa(len(entries)) || row["log"] != rows[0]["log"] {
			t.Errorf("%s: log %q with commit %s; want the same log everywhere, holding x=1, committed to its end", row["node"], row["log"], row["commit"])
		}
	}
	captions, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("captions").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(captions, "survives") {
		t.Errorf("the narration does not reach the end: %q", captions)
	}
	screenshot(t, ctx, "playground")
}
