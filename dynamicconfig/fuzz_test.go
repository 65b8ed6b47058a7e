package dynamicconfig

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseDynamicConfigFile feeds arbitrary bytes to ParseFile. It must
// never panic; an error must be ErrBadFile and every line of its message
// must start with the file name (grep-able "file:line: key: message").
func FuzzParseDynamicConfigFile(f *testing.F) {
	for _, seed := range []string{
		// valid
		"",
		"# nothing yet\n",
		"limit.maxIDLength:\n  - value: 255\n",
		"frontend.namespaceRPS:\n  - value: 50\n    constraints: {namespace: orders}\n  - value: 2400\n",
		"history.archivalProcessorArchiveDelay:\n  - value: 1s\n",
		"matching.numTaskqueueReadPartitions:\n  - value: 2\n    constraints: {namespace: a, taskQueueName: q, taskType: Workflow}\n",
		"system.enableNexus:\n  - value: true\n",
		// invalid
		"limit.maxIDLength:\n  - value: [1\n",
		"limit.maxIDLenght:\n  - value: 1\n",
		"limit.maxIDLength:\n  - value: lots\n",
		"limit.maxIDLength: 10\n",
		"frontend.namespaceRPS:\n  - value: 1\n    constraints: {namespce: x}\n",
		"frontend.namespaceRPS:\n  - value: 1\n    constraints: [namespace]\n",
		"limit.maxIDLength:\n  - valeu: 1\n",
		"limit.maxIDLength:\n  - constraints: {namespace: a}\n",
		"limit.maxIDLength:\n  - value: 1\nLIMIT.maxidlength:\n  - value: 2\n",
		"limit.maxIDLength:\n  - 5\n",
		"- a\n- b\n",
		"a: &x [*x]\n",
		"? [a, b]\n: c\n",
		"limit.maxIDLength:\n  - value: 1\n---\nother: 2\n",
		"\x00\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	const path = "fuzz-dc.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseFile(path, data)
		if err == nil {
			if m == nil {
				t.Fatal("ParseFile returned neither values nor an error")
			}
			return
		}
		if m != nil {
			t.Errorf("ParseFile returned values with its error")
		}
		if !errors.Is(err, ErrBadFile) {
			t.Errorf("error is not ErrBadFile: %q", err)
		}
		for i, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, path) {
				t.Fatalf("line %d of the error does not start with %s: %q\nwhole error:\n%s", i+1, path, line, err)
			}
		}
	})
}
