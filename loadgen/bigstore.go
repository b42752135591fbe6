package loadgen

import (
	"context"
)

// bigStoreStage is one measurement of big-store: a workload on a key
// space.
type bigStoreStage struct {
	name     string
	workload Workload
	big      bool // on the big key space (KeySpace), else the small one
}

// bigStoreStages are big-store's stages, in order. Each range stage
// prefills its key space first (the big one's prefill is the long part);
// the put stages overwrite random keys of the store just filled, so that
// the live data stays the same size.
var bigStoreStages = []bigStoreStage{
	{"small-range", WorkloadRange, false},
	{"small-put", WorkloadPut, false},
	{"big-range", WorkloadRange, true},
	{"big-put", WorkloadPut, true},
}

// BigStoreStages names big-store's stages in the order they run: range
// and put on the small store (SmallKeySpace keys), then, after the big
// prefill, range and put on the big store (KeySpace keys).
var BigStoreStages = func() []string {
	names := make([]string, len(bigStoreStages))
	for i, stage := range bigStoreStages {
		names[i] = stage.name
	}
	return names
}()

// runBigStore runs the stages one after the other on the same
// connections and returns a result that holds theirs. A stage that
// cannot run ends the run with its error.
func runBigStore(ctx context.Context, config Config, pool *connectionPool, reporter *progressReporter, endpoints, unreachable []string) (*Result, error) {
	result := newResult(config, endpoints, unreachable)
	result.ErrorsByKind, result.PrefillErrorsByKind, result.Histogram = map[string]int64{}, map[string]int64{}, []HistogramBin{}
	for _, stage := range bigStoreStages {
		if ctx.Err() != nil {
			break
		}
		stageConfig := config
		stageConfig.Workload = stage.workload
		if !stage.big {
			stageConfig.KeySpace = config.SmallKeySpace
		}
		stageResult, err := runStage(ctx, stageConfig, pool, reporter, endpoints, unreachable, stage.name)
		if err != nil {
			return nil, err
		}
		result.Stages = append(result.Stages, stageResult)
		result.Operations += stageResult.Operations
		result.Errors += stageResult.Errors
		for kind, count := range stageResult.ErrorsByKind {
			result.ErrorsByKind[kind] += count
		}
		result.PrefillErrors += stageResult.PrefillErrors
		for kind, count := range stageResult.PrefillErrorsByKind {
			result.PrefillErrorsByKind[kind] += count
		}
		result.PrefillSeconds += stageResult.PrefillSeconds
		result.ElapsedSeconds += stageResult.ElapsedSeconds
		result.StoppedBy = stageResult.StoppedBy
	}
	if ctx.Err() != nil || result.StoppedBy == "" {
		result.StoppedBy = "interrupted"
	}
	return result, nil
}

// BigStoreStage returns the result of the named stage of a big-store
// result, or nil.
func (r *Result) BigStoreStage(name string) *Result {
	for _, stage := range r.Stages {
		if stage.Stage == name {
			return stage
		}
	}
	return nil
}

// PrefillRate returns the keys and bytes (keys and values) per second of
// a result's prefill, or zeros without one.
func (r *Result) PrefillRate() (keysPerSecond, bytesPerSecond float64) {
	if r.PrefillSeconds <= 0 {
		return 0, 0
	}
	keys := float64(r.KeySpace)
	return keys / r.PrefillSeconds, keys * float64(r.KeySize+r.ValueSize) / r.PrefillSeconds
}
