// Command verify checks a Domicile transparency log the way an outside auditor would, using only
// golang.org/x/mod (sumdb/note for the signed checkpoint, sumdb/tlog for the RFC 6962 proofs)
// and no Domicile code.
//
// It reads one JSON job on stdin:
//
//	{
//	  "verifierKey": "<name>+<hex8>+<base64(0x01 || ed25519 public key)>",
//	  "checkpoint":  "<origin>\n<size>\n<base64 root>\n\n— <name> <base64 sig>\n",
//	  "origin":      "optional: the origin the checkpoint must name",
//	  "entries":     [{"index": 5, "entry": "<base64 entry bytes>", "proof": ["<base64 hash>", …]}],
//	  "consistency": {"oldCheckpoint": "optional signed note", "oldSize": 6, "oldRoot": "<base64>",
//	                  "proof": ["<base64 hash>", …]}
//	}
//
// The checkpoint is opened with note.Open and the key from note.NewVerifier; origin, size and
// root are parsed from the verified text (C2SP tlog-checkpoint). Each entry is checked with
// tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(entry)). The consistency proof goes
// from the old tree (from "oldCheckpoint", opened the same way, or from oldSize/oldRoot) to the
// checkpoint's tree, with tlog.CheckTree.
//
// On success it prints a JSON summary on stdout and exits 0. On any failure it prints the reason
// on stderr, prefixed with the x/mod call that refused (e.g. "note.Open: …"), and exits 1; an
// unreadable job exits 2.
//
// Empty trees: RFC 6962 and C2SP define the root of the empty tree as SHA-256("") (e3b0c442…),
// but x/mod's tlog.TreeHash(0) is the all-zero hash and tlog.CheckTree refuses sizes below 1.
// So this program refuses a consistency proof from size 0 instead of passing it to CheckTree
// (under C2SP the empty tree is trivially consistent with any tree), and an inclusion proof in
// an empty tree (CheckRecord refuses index >= size anyway).
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type job struct {
	VerifierKey string       `json:"verifierKey"`
	Checkpoint  string       `json:"checkpoint"`
	Origin      *string      `json:"origin"`
	Entries     []entry      `json:"entries"`
	Consistency *consistency `json:"consistency"`
}

type entry struct {
	Index int64    `json:"index"`
	Entry string   `json:"entry"`
	Proof []string `json:"proof"`
}

type consistency struct {
	OldCheckpoint *string  `json:"oldCheckpoint"`
	OldSize       *int64   `json:"oldSize"`
	OldRoot       *string  `json:"oldRoot"`
	Proof         []string `json:"proof"`
}

// checkpoint is a verified C2SP tlog-checkpoint body.
type checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

type result struct {
	Origin          string             `json:"origin"`
	Size            int64              `json:"size"`
	Root            string             `json:"root"`
	SignedBy        []string           `json:"signedBy"`
	UnverifiedSigs  int                `json:"unverifiedSignatures"`
	EntriesVerified []int64            `json:"entriesVerified"`
	Consistency     *consistencyResult `json:"consistency"`
}

type consistencyResult struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// failure is a verification failure: exit status 1.
type failure struct{ msg string }

func (f failure) Error() string { return f.msg }

func fail(format string, args ...any) error { return failure{fmt.Sprintf(format, args...)} }

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		exit(2, "reading stdin: %v", err)
	}
	var j job
	dec := json.NewDecoder(strings.NewReader(string(input)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		exit(2, "job is not valid JSON: %v", err)
	}
	res, err := verify(j)
	if err != nil {
		var f failure
		if errors.As(err, &f) {
			exit(1, "%v", err)
		}
		exit(2, "%v", err)
	}
	out, err := json.Marshal(res)
	if err != nil {
		exit(2, "encoding result: %v", err)
	}
	fmt.Println(string(out))
}

func verify(j job) (*result, error) {
	verifier, err := note.NewVerifier(j.VerifierKey)
	if err != nil {
		return nil, fail("note.NewVerifier(%q): %v", j.VerifierKey, err)
	}
	verifiers := note.VerifierList(verifier)

	opened, tree, err := openCheckpoint(j.Checkpoint, verifiers)
	if err != nil {
		return nil, err
	}
	if j.Origin != nil && tree.Origin != *j.Origin {
		return nil, fail("checkpoint origin %q, expected %q", tree.Origin, *j.Origin)
	}
	res := &result{
		Origin:          tree.Origin,
		Size:            tree.Size,
		Root:            base64.StdEncoding.EncodeToString(tree.Root[:]),
		SignedBy:        []string{},
		UnverifiedSigs:  len(opened.UnverifiedSigs),
		EntriesVerified: []int64{},
	}
	for _, s := range opened.Sigs {
		res.SignedBy = append(res.SignedBy, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}

	for _, e := range j.Entries {
		data, err := base64.StdEncoding.DecodeString(e.Entry)
		if err != nil {
			return nil, fmt.Errorf("entry %d is not base64: %v", e.Index, err)
		}
		proof, err := parseHashes(e.Proof)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof of entry %d: %v", e.Index, err)
		}
		if tree.Size < 1 {
			return nil, fail("tlog.CheckRecord: entry %d cannot be in an empty tree", e.Index)
		}
		leaf := tlog.RecordHash(data)
		if err := tlog.CheckRecord(tlog.RecordProof(proof), tree.Size, tree.Root, e.Index, leaf); err != nil {
			return nil, fail("tlog.CheckRecord(entry %d in tree %d): %v", e.Index, tree.Size, err)
		}
		res.EntriesVerified = append(res.EntriesVerified, e.Index)
	}

	if c := j.Consistency; c != nil {
		old, err := oldTree(c, verifiers)
		if err != nil {
			return nil, err
		}
		proof, err := parseHashes(c.Proof)
		if err != nil {
			return nil, fmt.Errorf("consistency proof: %v", err)
		}
		// tlog.CheckTree refuses n < 1 (its TreeHash(0) is the all-zero hash, not RFC 6962's
		// SHA-256("")): a proof from the empty tree is meaningless, so it is refused here too.
		if old.Size < 1 {
			return nil, fail("tlog.CheckTree: no consistency proof from the empty tree (size 0)")
		}
		if err := tlog.CheckTree(tlog.TreeProof(proof), tree.Size, tree.Root, old.Size, old.Root); err != nil {
			return nil, fail("tlog.CheckTree(%d -> %d): %v", old.Size, tree.Size, err)
		}
		res.Consistency = &consistencyResult{From: old.Size, To: tree.Size}
	}
	return res, nil
}

// openCheckpoint verifies a signed note with note.Open and parses its text as a checkpoint.
func openCheckpoint(signed string, verifiers note.Verifiers) (*note.Note, checkpoint, error) {
	n, err := note.Open([]byte(signed), verifiers)
	if err != nil {
		return nil, checkpoint{}, fail("note.Open: %v", err)
	}
	cp, err := parseCheckpoint(n.Text)
	if err != nil {
		return nil, checkpoint{}, fail("checkpoint: %v", err)
	}
	return n, cp, nil
}

func oldTree(c *consistency, verifiers note.Verifiers) (checkpoint, error) {
	var old checkpoint
	if c.OldCheckpoint != nil {
		_, cp, err := openCheckpoint(*c.OldCheckpoint, verifiers)
		if err != nil {
			return checkpoint{}, fmt.Errorf("old %w", err)
		}
		old = cp
	}
	if c.OldSize != nil {
		if c.OldCheckpoint != nil && *c.OldSize != old.Size {
			return checkpoint{}, fail("oldSize %d differs from the old checkpoint's %d", *c.OldSize, old.Size)
		}
		old.Size = *c.OldSize
	}
	if c.OldRoot != nil {
		h, err := tlog.ParseHash(*c.OldRoot)
		if err != nil {
			return checkpoint{}, fmt.Errorf("oldRoot: %v", err)
		}
		if c.OldCheckpoint != nil && h != old.Root {
			return checkpoint{}, fail("oldRoot differs from the old checkpoint's root")
		}
		old.Root = h
	}
	if c.OldCheckpoint == nil && (c.OldSize == nil || c.OldRoot == nil) {
		return checkpoint{}, errors.New("consistency needs oldCheckpoint, or oldSize and oldRoot")
	}
	return old, nil
}

// parseCheckpoint parses a C2SP tlog-checkpoint body: origin, decimal size without leading
// zeroes, base64 root of 32 bytes, then optional non-empty extension lines. (tlog.ParseTree
// only takes Go's own "go.sum database tree" header, so the lines are parsed here.)
func parseCheckpoint(text string) (checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return checkpoint{}, errors.New("text does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, fmt.Errorf("%d lines, want at least 3", len(lines))
	}
	for _, l := range lines {
		if l == "" {
			return checkpoint{}, errors.New("empty line")
		}
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("bad tree size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("bad root hash %q: %v", lines[2], err)
	}
	return checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

func parseHashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(list))
	for i, s := range list {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, fmt.Errorf("hash %d: %v", i, err)
		}
		out = append(out, h)
	}
	return out, nil
}

func exit(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}
