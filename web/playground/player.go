package playground

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lockstepdb/lockstep/raft"
)

// Action is something the user did in free mode, after Step steps.
type Action struct {
	Step int    `json:"step"`
	Kind string `json:"kind"` // crash, restart, isolate, heal, propose
	Node uint64 `json:"node"` // 0 for heal; for propose, 0 means the leader
}

// Player runs a scenario forwards and backwards: going back replays the
// run from its seed (every run is deterministic), user actions included.
type Player struct {
	scenario string
	seed     uint64
	actions  []Action
	current  *Simulation
}

// NewPlayer prepares the named scenario with seed and the recorded
// actions (see ParseActions).
func NewPlayer(scenario string, seed uint64, actions []Action) (*Player, error) {
	p := &Player{scenario: scenario, seed: seed, actions: actions}
	if err := p.reset(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Player) reset() error {
	simulation, err := New(p.scenario, p.seed)
	if err != nil {
		return err
	}
	p.current = simulation
	p.applyActions()
	return nil
}

// applyActions performs the recorded actions due at the current step.
func (p *Player) applyActions() {
	for _, action := range p.actions {
		if action.Step == p.current.steps {
			p.current.apply(action)
		}
	}
}

// StepTo moves the run to step (replaying from the start to go back) and
// returns the state there; it stops early if the run finishes first.
func (p *Player) StepTo(step int) State {
	if step < p.current.steps {
		_ = p.reset() // it succeeded once with the same scenario
	}
	for p.current.steps < step && p.current.Step() {
		p.applyActions()
	}
	return p.State()
}

// Forward takes one step and returns the new state.
func (p *Player) Forward() State { return p.StepTo(p.current.steps + 1) }

// State returns the current state, with the recorded actions.
func (p *Player) State() State {
	state := p.current.State()
	state.Actions = p.actions
	return state
}

// Act records a user action at the current step, forgetting any recorded
// after it (the future is rewritten), and performs it.
func (p *Player) Act(kind string, node uint64) error {
	if !FindScenario(p.scenario).Free {
		return fmt.Errorf("playground: actions are for free mode only")
	}
	action := Action{Step: p.current.steps, Kind: kind, Node: node}
	if err := p.current.validate(action); err != nil {
		return err
	}
	kept := p.actions[:0]
	for _, recorded := range p.actions {
		if recorded.Step <= action.Step {
			kept = append(kept, recorded)
		}
	}
	p.actions = append(kept, action)
	p.current.apply(action)
	return nil
}

func (s *Simulation) validate(action Action) error {
	switch action.Kind {
	case "heal":
		return nil
	case "crash", "restart", "isolate", "propose":
		if action.Node > uint64(len(s.nodes)) || (action.Node == 0 && action.Kind != "propose") {
			return fmt.Errorf("playground: no node %d", action.Node)
		}
		return nil
	}
	return fmt.Errorf("playground: unknown action %q", action.Kind)
}

// apply performs a validated action and narrates it.
func (s *Simulation) apply(action Action) {
	if s.validate(action) != nil {
		return // a hand-edited link; ignore what makes no sense
	}
	id := raft.NodeID(action.Node)
	switch action.Kind {
	case "crash":
		s.Crash(id)
		s.narrate("you crashed %s", name(id))
	case "restart":
		s.Restart(id)
		s.narrate("you restarted %s", name(id))
	case "isolate":
		s.Isolate(id)
		s.narrate("you cut %s off", name(id))
	case "heal":
		s.Heal()
		s.narrate("you healed the network")
	case "propose":
		if id == raft.None {
			id = s.Leader()
		}
		if id == raft.None {
			s.narrate("a client request found no leader")
			return
		}
		label, index := s.Propose(id)
		if index == 0 {
			s.narrate("%s refused %s: it does not lead (or is down)", name(id), label)
		} else {
			s.narrate("a client sent %s to %s: index %d", label, name(id), index)
		}
	}
	s.processAll()
}

// FormatActions encodes actions for a URL: "step:kind:node,...".
func FormatActions(actions []Action) string {
	parts := make([]string, len(actions))
	for i, action := range actions {
		parts[i] = fmt.Sprintf("%d:%s:%d", action.Step, action.Kind, action.Node)
	}
	return strings.Join(parts, ",")
}

// ParseActions decodes FormatActions' encoding; malformed items are an
// error (the text comes from a URL).
func ParseActions(text string) ([]Action, error) {
	var actions []Action
	for _, item := range strings.Split(text, ",") {
		if item == "" {
			continue
		}
		fields := strings.Split(item, ":")
		if len(fields) != 3 {
			return nil, fmt.Errorf("playground: action %q is not step:kind:node", item)
		}
		step, err := strconv.Atoi(fields[0])
		if err != nil || step < 0 {
			return nil, fmt.Errorf("playground: action %q: bad step", item)
		}
		node, err := strconv.ParseUint(fields[2], 10, 8)
		if err != nil {
			return nil, fmt.Errorf("playground: action %q: bad node", item)
		}
		actions = append(actions, Action{Step: step, Kind: fields[1], Node: node})
	}
	return actions, nil
}
