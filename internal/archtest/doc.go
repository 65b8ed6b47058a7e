// Package archtest holds no code: its test enforces which way devcluster's
// packages import each other, and where the Temporal server may be
// imported (the house rules of DESIGN.md, checked on every make test).
package archtest
