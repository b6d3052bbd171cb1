//go:build !linux

package crashtest

func exploreBarriers(BarrierConfig) (*BarrierResult, error) { return nil, fuseAvailable() }
