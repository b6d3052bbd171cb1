package crashtest_test

import (
	"fmt"
	"os"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
)

// Crash your own workload at a crash point, recover and let the reference
// model judge the recovered database.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	cfg := crashtest.DefaultCrashConfig()
	cfg.CrashTypes = []crashtest.CrashType{crashtest.PowerLoss}
	h := crashtest.NewCrashHarness(dir, cfg)
	h.SetCrashPoint(crashtest.AfterWALWriteBeforeFsync)

	res, err := h.RunScenario(func(r *crashtest.ScenarioRunner) error {
		if err := r.KVPut("orders", "o-1", []byte("paid")); err != nil {
			return err
		}
		return r.Update(
			crashtest.Put("orders", "o-2", []byte("new")),
			crashtest.Append("audit", []byte("o-2 created")),
			crashtest.CASCurrent("orders", "next-id", []byte("3")),
		)
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("crashed at:", *res.CrashPoint)
	fmt.Println("valid:", res.Recovery.Valid)
	// Output:
	// crashed at: AfterWALWriteBeforeFsync
	// valid: true
}

// Check your own use of a database against the reference model, without a
// crash.
func ExampleReferenceModel_Compare() {
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	m := crashtest.NewReferenceModel()
	r := crashtest.NewRunner(db, m)
	r.KVPut("r", "k", []byte("v1"))
	r.EventAppend("r", []byte("e0"))
	fmt.Println(m.Compare(db, crashtest.Promise{Durability: inmem.Strict, Crash: crashtest.ProcessKill}))
	// Output:
	// []
}
