//go:build js && wasm

// Command wasm is the playground's WebAssembly entry point: it exposes the
// playground model (web/playground) to the page's JavaScript as the global
// object lockstepPlayground, whose functions take and return strings
// (JSON for states). Built by `go generate ./web` into
// web/assets/playground.wasm.
package main

import (
	"encoding/json"
	"syscall/js"

	"github.com/lockstepdb/lockstep/web/playground"
)

var player *playground.Player

func encode(value any) js.Value {
	data, err := json.Marshal(value)
	if err != nil {
		return js.ValueOf(`{"error":` + jsonString(err.Error()) + `}`)
	}
	return js.ValueOf(string(data))
}

func jsonString(text string) string {
	data, _ := json.Marshal(text)
	return string(data)
}

func main() {
	api := map[string]any{
		// scenarios() -> JSON list of {name, title, explain, free, ...}
		"scenarios": js.FuncOf(func(js.Value, []js.Value) any { return encode(playground.Scenarios()) }),
		// load(scenario, seed, actions) -> "" or an error message
		"load": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if len(args) != 3 {
				return "load(scenario, seed, actions)"
			}
			actions, err := playground.ParseActions(args[2].String())
			if err != nil {
				return err.Error()
			}
			loaded, err := playground.NewPlayer(args[0].String(), uint64(args[1].Int()), actions)
			if err != nil {
				return err.Error()
			}
			player = loaded
			return ""
		}),
		// stepTo(step) -> JSON state (replays from the seed to go back)
		"stepTo": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if player == nil || len(args) != 1 {
				return encode(map[string]string{"error": "nothing loaded"})
			}
			return encode(player.StepTo(args[0].Int()))
		}),
		// act(kind, node) -> "" or an error message (free mode)
		"act": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if player == nil || len(args) != 2 {
				return "nothing loaded"
			}
			if err := player.Act(args[0].String(), uint64(args[1].Int())); err != nil {
				return err.Error()
			}
			return ""
		}),
		// actions() -> the recorded actions in the link's encoding
		"actions": js.FuncOf(func(js.Value, []js.Value) any {
			if player == nil {
				return ""
			}
			return playground.FormatActions(player.State().Actions)
		}),
	}
	js.Global().Set("lockstepPlayground", js.ValueOf(api))
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("lockstep-playground-ready"))
	select {} // serve calls from the page until it closes
}
