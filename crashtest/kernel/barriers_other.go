//go:build !linux

package kernel

func exploreBarriers(BarrierConfig) (*BarrierResult, error) { return nil, fuseAvailable() }
