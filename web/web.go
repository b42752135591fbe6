// Package web serves lockstep's browser pages: the live dashboard of a
// running cluster and the playground, where the consensus core runs in the
// browser as WebAssembly. The pages are plain HTML, CSS and JavaScript,
// embedded into the binary; nothing is fetched from elsewhere.
//
// Handler serves everything under /dashboard/. The cluster it shows is
// whatever the caller's Cluster reports: one member (each server's admin
// listener) or all of them (lockstep dev, which also offers a Control).
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:generate go run ./internal/buildwasm

// assets are the pages, scripts, styles and the playground's wasm binary
// (built by go generate, see internal/buildwasm).
//
//go:embed assets
var assets embed.FS

// Prefix is the path under which Handler serves, on any mux.
const Prefix = "/dashboard/"

// Options configure Handler.
type Options struct {
	// Cluster is sampled for the live stream; required.
	Cluster Cluster
	// Control, if set, enables the stop/restart/partition/heal/transfer
	// buttons (lockstep dev); nil shows a read-only dashboard.
	Control Control
}

// Handler serves the dashboard at Prefix, its event stream at
// Prefix+"events", its controls at Prefix+"control/{action}/{member}"
// (POST, only with Options.Control), the playground at
// Prefix+"playground" and static files at Prefix+"assets/". Mount it on a
// mux with mux.Handle(web.Prefix, handler). Safe for concurrent use.
func Handler(options Options) http.Handler {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic("web: embedded assets missing: " + err.Error()) // a build error, not input
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"assets/", http.StripPrefix(Prefix+"assets/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+Prefix+"{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "dashboard.html")
	})
	mux.HandleFunc("GET "+Prefix+"playground", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "playground.html")
	})
	mux.Handle("GET "+Prefix+"events", &stream{cluster: options.Cluster, controls: options.Control != nil})
	if options.Control != nil {
		mux.Handle("POST "+Prefix+"control/{action}/{member}", &controlHandler{control: options.Control})
	}
	return mux
}
