// Package suggest finds the known words closest to a mistyped one, for
// "did you mean" hints in error messages.
package suggest

import (
	"sort"
	"strings"
)

// Closest returns up to n candidates within a small edit distance of word
// (case-insensitive), best first. A candidate that contains word, or whose
// last dotted segment equals word's, counts as close.
func Closest(word string, candidates []string, n int) []string {
	w := strings.ToLower(word)
	type cand struct {
		s    string
		dist int
	}
	var cands []cand
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := Distance(w, lc)
		if w != "" && (strings.Contains(lc, w) || strings.HasSuffix(lc, "."+lastSegment(w))) {
			d = min(d, 2)
		}
		if d <= max(3, len(w)/4) {
			cands = append(cands, cand{c, d})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].dist != cands[j].dist {
			return cands[i].dist < cands[j].dist
		}
		return cands[i].s < cands[j].s
	})
	var out []string
	for i := 0; i < len(cands) && i < n; i++ {
		out = append(out, cands[i].s)
	}
	return out
}

// Hint renders "; did you mean a, b or c?" or "" when there is nothing close.
func Hint(word string, candidates []string) string {
	c := Closest(word, candidates, 3)
	switch len(c) {
	case 0:
		return ""
	case 1:
		return "; did you mean " + c[0] + "?"
	}
	return "; did you mean " + strings.Join(c[:len(c)-1], ", ") + " or " + c[len(c)-1] + "?"
}

func lastSegment(k string) string {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[i+1:]
	}
	return k
}

// Distance is the Levenshtein distance between a and b (bytes).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
