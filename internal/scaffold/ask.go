package scaffold

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Ask completes o by asking for each option that is not set yet, one line per answer, so
// it works on any terminal, in scripts that pipe answers, and in tests with a strings.Reader.
// Prompts go to out (the command line passes stderr, keeping stdout for results). An
// invalid answer is asked again after the reason. Optional options (repo, minimum Dify
// version, ...) accept an empty answer. Permissions are only asked when none is set yet.
//
// Ask returns an error when in ends before a required answer, or when ctx is done.
func Ask(ctx context.Context, in io.Reader, out io.Writer, o *Options) error {
	a := &asker{ctx: ctx, in: bufio.NewReader(in), out: out}
	if o.Name == "" {
		if err := a.text("Plugin name (lowercase letters, digits, _ and -)", "", true, checkName, &o.Name); err != nil {
			return err
		}
	}
	if o.Author == "" {
		if err := a.text("Author (your Marketplace name: lowercase letters, digits, _ and -)", "", true, checkAuthor, &o.Author); err != nil {
			return err
		}
	}
	if o.Description == "" {
		if err := a.text("Description (one line, English)", "", true, checkDescription, &o.Description); err != nil {
			return err
		}
	}
	if o.Repo == "" {
		if err := a.text("Source repository URL (optional)", "", false, checkRepo, &o.Repo); err != nil {
			return err
		}
	}
	if o.Category == "" {
		if err := a.category(&o.Category); err != nil {
			return err
		}
	}
	if o.Language == "" {
		if err := a.text("Language", "python", false, checkLanguage, &o.Language); err != nil {
			return err
		}
	}
	if o.Permissions == (Permissions{}) {
		if err := a.permissions(o); err != nil {
			return err
		}
	}
	if o.MinDifyVersion == "" {
		if err := a.text("Minimum Dify version (optional, e.g. 1.9.0)", "", false, checkMinDifyVersion, &o.MinDifyVersion); err != nil {
			return err
		}
	}
	if o.I18nReadme == nil {
		var langs string
		check := func(s string) error { return checkI18nReadme(splitList(s)) }
		if err := a.text("README translations (optional, comma-separated: zh_Hans, ja_JP, pt_BR)", "", false, check, &langs); err != nil {
			return err
		}
		o.I18nReadme = splitList(langs)
	}
	return nil
}

func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, f)
	}
	return out
}

// errNoAnswer is returned when the input ends before a required question is answered.
var errNoAnswer = errors.New("no answer: the input ended")

type asker struct {
	ctx context.Context
	in  *bufio.Reader
	out io.Writer
}

// line prints prompt and reads one answer, trimmed. ok is false at the end of the input.
func (a *asker) line(prompt string) (answer string, ok bool, err error) {
	if err := a.ctx.Err(); err != nil {
		return "", false, err
	}
	fmt.Fprint(a.out, prompt)
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	// Reading a terminal cannot be interrupted; read in the background so a cancelled
	// context (Ctrl-C) returns at once. The reader is not used again after that.
	go func() {
		s, err := a.in.ReadString('\n')
		ch <- result{s, err}
	}()
	select {
	case <-a.ctx.Done():
		fmt.Fprintln(a.out)
		return "", false, a.ctx.Err()
	case r := <-ch:
		if r.err != nil && !errors.Is(r.err, io.EOF) {
			return "", false, r.err
		}
		if errors.Is(r.err, io.EOF) {
			fmt.Fprintln(a.out) // the user's Enter did not end the prompt line
			if r.s == "" {
				return "", false, nil
			}
		}
		return strings.TrimSpace(r.s), true, nil
	}
}

// text asks until check accepts the answer; an empty answer means def, and is accepted
// without check when the question is optional and def is empty.
func (a *asker) text(question, def string, required bool, check func(string) error, dst *string) error {
	prompt := question + ": "
	if def != "" {
		prompt = fmt.Sprintf("%s [%s]: ", question, def)
	}
	for {
		s, ok, err := a.line(prompt)
		if err != nil {
			return err
		}
		if !ok {
			if required {
				return fmt.Errorf("%s: %w", strings.ToLower(question[:1])+question[1:], errNoAnswer)
			}
			*dst = def
			return nil
		}
		if s == "" {
			s = def
		}
		if s == "" && !required {
			*dst = ""
			return nil
		}
		if s == "" {
			fmt.Fprintln(a.out, "  an answer is required")
			continue
		}
		if err := check(s); err != nil {
			fmt.Fprintf(a.out, "  %v\n", err)
			continue
		}
		*dst = s
		return nil
	}
}

func (a *asker) category(dst *Category) error {
	cats := Categories()
	fmt.Fprintln(a.out, "Category:")
	for i, c := range cats {
		fmt.Fprintf(a.out, "  %2d) %-15s %s\n", i+1, c, c.Describe())
	}
	prompt := fmt.Sprintf("Choose 1-%d or a name [1]: ", len(cats))
	for {
		s, ok, err := a.line(prompt)
		if err != nil {
			return err
		}
		if !ok || s == "" {
			*dst = cats[0]
			return nil
		}
		if n, err := strconv.Atoi(s); err == nil {
			if n >= 1 && n <= len(cats) {
				*dst = cats[n-1]
				return nil
			}
			fmt.Fprintf(a.out, "  choose a number from 1 to %d\n", len(cats))
			continue
		}
		if err := checkCategory(Category(s)); err != nil {
			fmt.Fprintf(a.out, "  %v\n", err)
			continue
		}
		*dst = Category(s)
		return nil
	}
}

// yes asks a y/N question; the end of the input or an empty answer mean no.
func (a *asker) yes(question string) (bool, error) {
	for {
		s, ok, err := a.line(question + " [y/N]: ")
		if err != nil || !ok {
			return false, err
		}
		switch strings.ToLower(s) {
		case "y", "yes":
			return true, nil
		case "", "n", "no":
			return false, nil
		}
		fmt.Fprintln(a.out, "  answer y or n")
	}
}

// permissions asks for each backwards invocation the plugin may make. What the category
// always needs is granted without asking (see effectivePermissions).
func (a *asker) permissions(o *Options) error {
	p := &o.Permissions
	fmt.Fprintln(a.out, "Permissions: what the plugin may call in Dify.")
	type question struct {
		text string
		dst  *bool
		skip bool
	}
	agent := o.Category == AgentStrategy
	for _, q := range []question{
		{"Call tools?", &p.Tool, agent},
		{"Call models?", &p.Model, agent},
	} {
		if q.skip {
			continue
		}
		v, err := a.yes(q.text)
		if err != nil {
			return err
		}
		*q.dst = v
	}
	if agent {
		fmt.Fprintln(a.out, "  agent strategies may always call tools and LLMs")
		p.Tool, p.Model, p.LLM = true, true, true
	}
	if p.Model {
		for _, q := range []question{
			{"  Call LLMs?", &p.LLM, agent},
			{"  Call text embedding models?", &p.TextEmbedding, false},
			{"  Call rerank models?", &p.Rerank, false},
			{"  Call text-to-speech models?", &p.TTS, false},
			{"  Call speech-to-text models?", &p.Speech2Text, false},
			{"  Call moderation models?", &p.Moderation, false},
		} {
			if q.skip {
				continue
			}
			v, err := a.yes(q.text)
			if err != nil {
				return err
			}
			*q.dst = v
		}
	}
	for _, q := range []question{
		{"Call workflow nodes (parameter extractor, question classifier)?", &p.Node, false},
		{"Register endpoints?", &p.Endpoint, o.Category == Extension},
		{"Call Dify apps?", &p.App, false},
		{"Use plugin storage?", &p.Storage, false},
	} {
		if q.skip {
			continue
		}
		v, err := a.yes(q.text)
		if err != nil {
			return err
		}
		*q.dst = v
	}
	if p.Storage && p.StorageSize == 0 {
		var size string
		check := func(s string) error {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return &FieldError{"storage-size", s, "must be a number of bytes"}
			}
			return checkStorageSize(n)
		}
		if err := a.text("  Storage size in bytes", strconv.Itoa(DefaultStorageSize), false, check, &size); err != nil {
			return err
		}
		p.StorageSize, _ = strconv.ParseInt(size, 10, 64)
	}
	return nil
}
