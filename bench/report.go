package main

// The results: per-figure statistics, the JSON report and the table.

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// stats of one figure for one configuration.
type stats struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
}

type row struct {
	Key        string `json:"key"`
	Label      string `json:"label"`
	Unit       string `json:"unit"`
	Devcluster *stats `json:"devcluster"`
	Stock      *stats `json:"stock"`
	// Ratio is devcluster/stock of the medians.
	Ratio float64 `json:"ratio"`
}

type report struct {
	Params struct {
		N             int     `json:"n"`
		C             int     `json:"c"`
		Runs          int     `json:"runs"`
		DCIters       int     `json:"dc_iters"`
		TestutilIters int     `json:"testutil_iters"`
		Short         bool    `json:"short"`
		Compare       string  `json:"compare,omitempty"`
		GoVersion     string  `json:"go_version"`
		CPUs          int     `json:"cpus"`
		Started       string  `json:"started"`
		Seconds       float64 `json:"seconds"`
	} `json:"params"`
	Figures []row `json:"figures"`
	// CLI is the start-dev row of the Temporal CLI given with -cli: launch
	// to first SDK call, the same harness argv; Ratio is devcluster/CLI.
	CLI *cliRow `json:"cli,omitempty"`
}

type cliRow struct {
	Path  string  `json:"path"`
	Stats *stats  `json:"startdev_first_call_ms"`
	Ratio float64 `json:"ratio"`
}

func summarize(v []float64) *stats {
	if len(v) == 0 {
		return nil
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &stats{Median: med, Min: s[0], Max: s[len(s)-1], Values: v}
}

func roundAll(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int(x*10+0.5)) / 10
	}
	return out
}

func printTable(w io.Writer, rep *report) {
	p := rep.Params
	fmt.Fprintf(w, "\ndevcluster bench: N=%d workflows, C=%d concurrent, %d run(s) per figure (median [min-max]), %d CPUs, %.0fs\n",
		p.N, p.C, p.Runs, p.CPUs, p.Seconds)
	second := describeStock()
	if p.Compare != "" {
		second = "stock column = devcluster default + --config " + p.Compare + " (-compare)"
	}
	fmt.Fprintf(w, "devcluster = default (dev profile, --headless); %s\n\n", second)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "figure\t\tdevcluster\t[min-max]\tstock\t[min-max]\tdevcluster/stock\t")
	for _, r := range rep.Figures {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Label, r.Unit, num(r.Devcluster, false), num(r.Devcluster, true),
			num(r.Stock, false), num(r.Stock, true), ratio(r.Ratio))
	}
	_ = tw.Flush()
	printPostgresVsFile(w, rep)
	if c := rep.CLI; c != nil {
		fmt.Fprintf(w, "\nthe Temporal CLI (%s), server start-dev launch to first SDK call: %s ms %s; devcluster/CLI %s\n",
			c.Path, num(c.Stats, false), num(c.Stats, true), ratio(c.Ratio))
	}
	fmt.Fprintln(w)
}

// printPostgresVsFile prints devcluster on PostgreSQL against devcluster
// on a SQLite file, the performance issue's PostgreSQL targets.
func printPostgresVsFile(w io.Writer, rep *report) {
	med := map[string]float64{}
	for _, r := range rep.Figures {
		if r.Devcluster != nil {
			med[r.Key] = r.Devcluster.Median
		}
	}
	pg, file := med["pg_throughput_wps"], med["file_throughput_wps"]
	if pg == 0 || file == 0 {
		return
	}
	fmt.Fprintf(w, "\ndevcluster on PostgreSQL against devcluster on a db file: throughput %.2fx (target >= 1.0x), "+
		"p99 %.0f ms (target <= 1000), start to ready on a new database %.0f ms (target <= 1000)\n",
		pg/file, med["pg_p99_ms"], med["start_ready_pg_ms"])
}

func num(s *stats, rng bool) string {
	if s == nil {
		return "-"
	}
	f := func(x float64) string {
		switch {
		case x >= 100:
			return fmt.Sprintf("%.0f", x)
		case x >= 10:
			return fmt.Sprintf("%.1f", x)
		default:
			return fmt.Sprintf("%.2f", x)
		}
	}
	if rng {
		return "[" + f(s.Min) + "-" + f(s.Max) + "]"
	}
	return f(s.Median)
}

func ratio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}
