// Command bench measures devcluster against fresh devcluster processes:
// start and stop times, memory, workflow throughput and latency (in memory,
// on a new database file and on a new PostgreSQL database), dynamic-config
// reload latency, and the testutil helpers; each figure for devcluster's default configuration and
// for a "stock" configuration that reproduces `temporal server start-dev`
// on the same server, side by side with the ratio devcluster/stock.
//
//	go run ./bench                      # N=1000, C=50, 3 runs
//	go run ./bench -short               # N=20, C=5, 1 run
//	go run ./bench -json bench.json -n 2000 -c 100 -runs 5
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/internal/syncbuf"
)

func main() {
	if isChild() {
		os.Exit(childMain())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options of one bench run.
type options struct {
	N, C, Runs    int
	DCIters       int
	TestutilIters int
	JSON          string
	Binary        string
	Short         bool
	Compare       string // FILE: a devcluster config file that replaces stock in the second column
	Addr          string // HOST:PORT: only run the load against this running cluster
	CLI           string // PATH: a Temporal CLI whose server start-dev is timed too
}

// figure is one row of the table.
type figure struct {
	Key, Label, Unit string
	LowerIsBetter    bool
}

// devclusterOnly figures have no stock column: start-dev runs every role
// in one process, so a cluster of several processes has no counterpart.
func (f figure) devclusterOnly() bool { return strings.HasPrefix(f.Key, "nodes_") }

var figures = []figure{
	{"start_ready_ms", "start to ready (in memory)", "ms", true},
	{"start_ready_file_ms", "start to ready (new db file)", "ms", true},
	{"startdev_first_call_ms", "server start-dev launch to first SDK call", "ms", true},
	{"stop_ms", "SIGINT to exit (after load, in memory)", "ms", true},
	{"rss_ready_mb", "RSS when ready (in memory)", "MB", true},
	{"rss_after_load_mb", "RSS after load (in memory)", "MB", true},
	{"rss_after_load_file_mb", "RSS after load (db file)", "MB", true},
	{"mem_throughput_wps", "throughput in memory", "wf/s", false},
	{"mem_p50_ms", "latency p50 in memory", "ms", true},
	{"mem_p95_ms", "latency p95 in memory", "ms", true},
	{"mem_p99_ms", "latency p99 in memory", "ms", true},
	{"file_throughput_wps", "throughput db file", "wf/s", false},
	{"file_p50_ms", "latency p50 db file", "ms", true},
	{"file_p95_ms", "latency p95 db file", "ms", true},
	{"file_p99_ms", "latency p99 db file", "ms", true},
	{"start_ready_pg_ms", "start to ready (new PostgreSQL db)", "ms", true},
	{"rss_after_load_pg_mb", "RSS after load (PostgreSQL)", "MB", true},
	{"pg_throughput_wps", "throughput PostgreSQL", "wf/s", false},
	{"pg_p50_ms", "latency p50 PostgreSQL", "ms", true},
	{"pg_p95_ms", "latency p95 PostgreSQL", "ms", true},
	{"pg_p99_ms", "latency p99 PostgreSQL", "ms", true},
	{"nodes_1h_throughput_wps", "throughput PostgreSQL, 3 processes, 1 history", "wf/s", false},
	{"nodes_2h_throughput_wps", "throughput PostgreSQL, 4 processes, 2 history", "wf/s", false},
	{"nodes_2h_p95_ms", "latency p95 PostgreSQL, 2 history processes", "ms", true},
	{"dc_reload_ms", "dynamic-config reload (median of iters)", "ms", true},
	{"testutil_newcluster_ms", "testutil NewCluster (start+stop)", "ms", true},
	{"testutil_newnamespace_ms", "testutil NewNamespace", "ms", true},
}

// config is one column.
type config struct {
	Name      string
	Args      []string // extra `devcluster start` arguments
	Child     string   // BENCH_CHILD mode
	ChildFile string   // BENCH_CHILD_CONFIG
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.N, "n", 1000, "workflows per load run")
	fs.IntVar(&o.C, "c", 50, "concurrent workflows")
	fs.IntVar(&o.Runs, "runs", 3, "fresh processes per figure (median, min, max)")
	fs.IntVar(&o.DCIters, "dc-iters", 5, "dynamic-config changes per process (median)")
	fs.IntVar(&o.TestutilIters, "testutil-iters", 5, "NewCluster/NewNamespace calls per process (mean, as ns/op)")
	fs.StringVar(&o.JSON, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.Binary, "devcluster", "", "devcluster binary (default: go build ./cmd/devcluster into a temporary directory)")
	fs.StringVar(&o.Compare, "compare", "", "instead of stock, compare with devcluster's default plus this --config FILE (to measure a setting)")
	fs.StringVar(&o.Addr, "addr", "", "only run the workflow load (-n, -c) against this running cluster's frontend, e.g. to profile it")
	fs.StringVar(&o.CLI, "cli", "", "also time this Temporal CLI's server start-dev, launch to first SDK call (the start-dev row's real counterpart)")
	fs.BoolVar(&o.Short, "short", false, "quick check: N=20, C=5, runs=1, 3 reloads, 2 testutil calls")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Short {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]*int{"n": &o.N, "c": &o.C, "runs": &o.Runs, "dc-iters": &o.DCIters, "testutil-iters": &o.TestutilIters} {
			if !set[name] {
				*v = map[string]int{"n": 20, "c": 5, "runs": 1, "dc-iters": 3, "testutil-iters": 2}[name]
			}
		}
	}
	if o.N < 1 || o.C < 1 || o.Runs < 1 || o.DCIters < 1 || o.TestutilIters < 1 || o.DCIters > 15 {
		fmt.Fprintln(stderr, "bench: -n, -c, -runs, -testutil-iters must be >= 1; -dc-iters 1..15")
		return 2
	}
	if o.Addr != "" {
		res, err := runLoad(context.Background(), o.Addr, o.N, o.C)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d workflows at concurrency %d: %.1f wf/s, p50 %s p95 %s p99 %s\n", o.N, o.C,
			res.Throughput, res.P50.Round(time.Millisecond), res.P95.Round(time.Millisecond), res.P99.Round(time.Millisecond))
		return 0
	}
	rep, err := bench(context.Background(), o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	printTable(stdout, rep)
	if o.JSON != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.JSON, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	return 0
}

func bench(ctx context.Context, o options, log io.Writer) (*report, error) {
	began := time.Now()
	tmp, err := os.MkdirTemp("", "devcluster-bench-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	bin := o.Binary
	if bin != "" {
		// Each server runs in a directory of its own: a relative path
		// would name a file there.
		if bin, err = filepath.Abs(bin); err != nil {
			return nil, err
		}
	} else {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		bin = filepath.Join(tmp, "devcluster")
		fmt.Fprintf(log, "building %s ...\n", bin)
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/devcluster")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/devcluster: %w", err)
		}
	}
	stockFile, err := writeStockConfig(tmp, false)
	if err != nil {
		return nil, err
	}
	stockTestFile, err := writeStockConfig(tmp, true)
	if err != nil {
		return nil, err
	}
	configs := []config{
		{Name: "devcluster", Child: "dev"},
		{Name: "stock", Args: []string{"--config", stockFile}, Child: "stock", ChildFile: stockTestFile},
	}
	if o.Compare != "" {
		abs, err := filepath.Abs(o.Compare)
		if err != nil {
			return nil, err
		}
		// The column keeps the name "stock" in the JSON; the table says what it is.
		configs[1] = config{Name: "stock", Args: []string{"--config", abs}, Child: "stock", ChildFile: abs}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}

	// A throwaway PostgreSQL 15 for the PostgreSQL rows, when its binaries
	// are installed (make test's machines have them).
	var pg *pgtest.Server
	if err := pgtest.Available(); err != nil {
		fmt.Fprintf(log, "no PostgreSQL rows: %v\n", err)
	} else if pg, err = pgtest.StartServer(); err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	} else {
		defer pg.Stop()
	}

	if o.CLI != "" {
		if o.CLI, err = filepath.Abs(o.CLI); err != nil {
			return nil, err
		}
	}
	var cliValues []float64
	values := map[string]map[string][]float64{} // config -> key -> per-run values
	for _, c := range configs {
		values[c.Name] = map[string][]float64{}
	}
	seq := 0
	for r := range o.Runs {
		for _, c := range configs {
			rec := func(key string, v float64) { values[c.Name][key] = append(values[c.Name][key], v) }
			fmt.Fprintf(log, "run %d/%d %s\n", r+1, o.Runs, c.Name)
			seq++
			dir := func(name string) (string, error) {
				d := filepath.Join(tmp, fmt.Sprintf("%d-%s-%s", seq, c.Name, name))
				return d, os.MkdirAll(d, 0o755)
			}
			if err := measureLoad(ctx, o, bin, c, dir, storeMemory, rec, log); err != nil {
				return nil, fmt.Errorf("%s in memory: %w", c.Name, err)
			}
			if err := measureLoad(ctx, o, bin, c, dir, storeFile, rec, log); err != nil {
				return nil, fmt.Errorf("%s db file: %w", c.Name, err)
			}
			if pg != nil {
				store := pg.URL(fmt.Sprintf("bench_%d", seq))
				if err := measureLoad(ctx, o, bin, c, dir, store, rec, log); err != nil {
					return nil, fmt.Errorf("%s PostgreSQL: %w", c.Name, err)
				}
			}
			if pg != nil && c.Name == "devcluster" {
				// The stock column has no counterpart: start-dev runs
				// every role in one process.
				for _, histories := range []int{1, 2} {
					store := pg.URL(fmt.Sprintf("bench_%d_nodes%d", seq, histories))
					if err := measureNodes(ctx, o, bin, c, dir, store, histories, rec, log); err != nil {
						return nil, fmt.Errorf("%s on %d history processes: %w", c.Name, histories, err)
					}
				}
			}
			if err := measureStartDev(ctx, bin, c, dir, rec, log); err != nil {
				return nil, fmt.Errorf("%s server start-dev: %w", c.Name, err)
			}
			if o.CLI != "" && c.Name == "devcluster" {
				fmt.Fprintf(log, "  the Temporal CLI (%s):\n", o.CLI)
				recCLI := func(_ string, v float64) { cliValues = append(cliValues, v) }
				if err := measureStartDev(ctx, o.CLI, config{Name: "cli"}, dir, recCLI, log); err != nil {
					return nil, fmt.Errorf("the Temporal CLI's server start-dev: %w", err)
				}
			}
			if err := measureDC(ctx, o, bin, c, dir, rec, log); err != nil {
				return nil, fmt.Errorf("%s dynamic config: %w", c.Name, err)
			}
			if err := measureTestutil(self, o, c, rec, log); err != nil {
				return nil, fmt.Errorf("%s testutil: %w", c.Name, err)
			}
		}
	}

	rep := &report{}
	rep.Params.N, rep.Params.C, rep.Params.Runs = o.N, o.C, o.Runs
	rep.Params.DCIters, rep.Params.TestutilIters, rep.Params.Short = o.DCIters, o.TestutilIters, o.Short
	rep.Params.Compare = o.Compare
	rep.Params.GoVersion, rep.Params.CPUs = runtime.Version(), runtime.NumCPU()
	rep.Params.Started = began.UTC().Format(time.RFC3339)
	rep.Params.Seconds = time.Since(began).Seconds()
	for _, f := range figures {
		rw := row{Key: f.Key, Label: f.Label, Unit: f.Unit,
			Devcluster: summarize(values["devcluster"][f.Key]), Stock: summarize(values["stock"][f.Key])}
		if rw.Devcluster != nil && rw.Stock != nil && rw.Stock.Median != 0 {
			rw.Ratio = rw.Devcluster.Median / rw.Stock.Median
		}
		rep.Figures = append(rep.Figures, rw)
		if f.Key == "startdev_first_call_ms" && len(cliValues) > 0 {
			rep.CLI = &cliRow{Path: o.CLI, Stats: summarize(cliValues)}
			if rw.Devcluster != nil && rep.CLI.Stats.Median != 0 {
				rep.CLI.Ratio = rw.Devcluster.Median / rep.CLI.Stats.Median
			}
		}
	}
	return rep, nil
}

// Where measureLoad keeps the cluster's data: in memory, a new SQLite
// file, or else a postgres:// URL of a database devcluster creates.
const (
	storeMemory = "mem"
	storeFile   = "file"
)

// measureLoad runs one process: start, N workflows, stop.
func measureLoad(ctx context.Context, o options, bin string, c config, dir func(string) (string, error),
	store string, rec func(string, float64), log io.Writer) error {
	name := store
	if strings.HasPrefix(store, "postgres") {
		name = "pg"
	}
	d, err := dir(name)
	if err != nil {
		return err
	}
	args := append([]string(nil), c.Args...)
	switch name {
	case storeFile:
		args = append(args, "--db-file", filepath.Join(d, "bench.db"))
	case "pg":
		args = append(args, "--db-url", store)
	}
	s, err := startServer(ctx, bin, d, args...)
	if err != nil {
		return err
	}
	defer s.killIfRunning()
	switch name {
	case storeFile:
		rec("start_ready_file_ms", ms(s.ready))
	case "pg":
		rec("start_ready_pg_ms", ms(s.ready))
	default:
		rec("start_ready_ms", ms(s.ready))
		rss, err := s.rssMB()
		if err != nil {
			return err
		}
		rec("rss_ready_mb", rss)
	}
	res, err := runLoad(ctx, s.frontend, o.N, o.C)
	if err != nil {
		return fmt.Errorf("%w\nserver log:\n%s", err, tail(s.logs.String()))
	}
	rss, err := s.rssMB()
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "  %s: ready %s, %.0f wf/s, p50 %s p95 %s p99 %s, rss %.0f MB\n", name, s.ready.Round(time.Millisecond),
		res.Throughput, res.P50.Round(time.Millisecond), res.P95.Round(time.Millisecond), res.P99.Round(time.Millisecond), rss)
	rec(name+"_throughput_wps", res.Throughput)
	rec(name+"_p50_ms", ms(res.P50))
	rec(name+"_p95_ms", ms(res.P95))
	rec(name+"_p99_ms", ms(res.P99))
	switch name {
	case storeFile:
		rec("rss_after_load_file_mb", rss)
	case "pg":
		rec("rss_after_load_pg_mb", rss)
	default:
		rec("rss_after_load_mb", rss)
	}
	stopped, err := s.stop()
	if err != nil {
		return err
	}
	if name == storeMemory {
		rec("stop_ms", ms(stopped))
	}
	return nil
}

// measureNodes runs one cluster as several processes on PostgreSQL
// (frontend+worker, matching, and histories history processes, ringpop
// between them) and records the throughput of N workflows through the
// frontend.
func measureNodes(ctx context.Context, o options, bin string, c config, dir func(string) (string, error),
	store string, histories int, rec func(string, float64), log io.Writer) error {
	roles := []string{"frontend+worker", "matching"}
	for range histories {
		roles = append(roles, "history")
	}
	d, err := dir(fmt.Sprintf("nodes%d", histories))
	if err != nil {
		return err
	}
	// The supervisor users run (start --nodes), which starts the processes
	// and is ready once all are.
	args := append(append([]string(nil), c.Args...), "--db-url", store, "--shards", "8", "--nodes", strings.Join(roles, ","))
	s, err := startServer(ctx, bin, d, args...)
	if err != nil {
		return err
	}
	defer s.killIfRunning()
	res, err := runLoad(ctx, s.frontend, o.N, o.C)
	if err != nil {
		return fmt.Errorf("%w\nthe nodes' log:\n%s", err, tail(s.logs.String()))
	}
	fmt.Fprintf(log, "  %d processes, %d history: %.0f wf/s, p50 %s p95 %s p99 %s\n", len(roles), histories,
		res.Throughput, res.P50.Round(time.Millisecond), res.P95.Round(time.Millisecond), res.P99.Round(time.Millisecond))
	rec(fmt.Sprintf("nodes_%dh_throughput_wps", histories), res.Throughput)
	if histories == 2 {
		rec("nodes_2h_p95_ms", ms(res.P95))
	}
	_, err = s.stop()
	return err
}

// measureDC runs one process with --dynamic-config-file and records the
// median reload latency of o.DCIters changes.
func measureDC(ctx context.Context, o options, bin string, c config, dir func(string) (string, error),
	rec func(string, float64), log io.Writer) error {
	d, err := dir("dc")
	if err != nil {
		return err
	}
	dcFile := filepath.Join(d, "dynamicconfig.yaml")
	if err := writeDCFile(dcFile, 1000); err != nil {
		return err
	}
	s, err := startServer(ctx, bin, d, append(append([]string(nil), c.Args...), "--dynamic-config-file", dcFile)...)
	if err != nil {
		return err
	}
	defer s.killIfRunning()
	lat, err := dcReload(ctx, s.frontend, dcFile, o.DCIters)
	if err != nil {
		return fmt.Errorf("%w\nserver log:\n%s", err, tail(s.logs.String()))
	}
	vals := make([]float64, len(lat))
	for i, l := range lat {
		vals[i] = ms(l)
	}
	m := summarize(vals).Median
	fmt.Fprintf(log, "  dynamic config reload: %.1f ms (median of %v)\n", m, roundAll(vals))
	rec("dc_reload_ms", m)
	_, err = s.stop()
	return err
}

// measureTestutil runs the testutil figures in a fresh child process.
func measureTestutil(self string, o options, c config, rec func(string, float64), log io.Writer) error {
	cmd := exec.Command(self)
	cmd.Env = append(cleanEnv(), childEnv+"="+c.Child, fmt.Sprintf("%s=%d", childItersEnv, o.TestutilIters), childCfgEnv+"="+c.ChildFile)
	var errBuf syncbuf.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.Output()
	var res childResult
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &res); jerr != nil {
		return fmt.Errorf("child: %v, %v\n%s%s", err, jerr, out, tail(errBuf.String()))
	}
	if res.Err != "" || err != nil {
		return fmt.Errorf("child: %v %s\n%s", err, res.Err, tail(errBuf.String()))
	}
	fmt.Fprintf(log, "  testutil: NewCluster %.0f ms, NewNamespace %.1f ms\n", res.NewClusterMS, res.NewNamespaceMS)
	rec("testutil_newcluster_ms", res.NewClusterMS)
	rec("testutil_newnamespace_ms", res.NewNamespaceMS)
	return nil
}

// writeDCFile replaces the dynamic-config file atomically (a temporary file
// renamed over it) with limit.maxIDLength = limit.
func writeDCFile(path string, limit int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-dc-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := fmt.Fprintf(tmp, "limit.maxIDLength:\n  - value: %d\n", limit); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above the working directory; pass -devcluster BIN")
		}
		d = parent
	}
}
