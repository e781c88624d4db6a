package pyenv

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sdkFix repairs a known bug of early dify_plugin releases inside a built environment, so
// that plugins pinned to those releases (real official packages still pin 0.0.1b65 and
// 0.0.1b75) behave like plugins on a current SDK. Each fix edits one installed file and only
// when the file still looks as expected; otherwise it is skipped and the build says so.
type sdkFix struct {
	name   string
	below  string // applied to SDK versions sorting before this one
	file   string // relative to site-packages
	module string // imported after patching, to prove the file still loads
	apply  func(src string) (string, bool)
}

// fixMarker starts every block this package writes into an SDK file; its presence makes a
// fix idempotent.
const fixMarker = "# --- plugd old-SDK fix:"

func oldSDKFixes() []sdkFix {
	return []sdkFix{
		{
			name:   "token-count-threads",
			below:  "0.0.1b70",
			file:   "dify_plugin/interfaces/model/ai_model.py",
			module: "dify_plugin.interfaces.model.ai_model",
			apply:  appendBlock("token-count-threads", []string{"class AIModel(", "def _get_num_tokens_by_gpt2("}, tokenCountFix),
		},
		{
			name:   "no-prompt-echo",
			below:  "0.1.1",
			file:   "dify_plugin/entities/model/llm.py",
			module: "dify_plugin.entities.model.llm",
			apply:  noPromptEcho,
		},
		{
			name:   "stdin-reader",
			below:  "0.1.1",
			file:   "dify_plugin/core/server/stdio/request_reader.py",
			module: "dify_plugin.core.server.stdio.request_reader",
			apply: appendBlock("stdin-reader",
				[]string{"class StdioRequestReader(", "tp_read(", "PluginInStream(", "StdioResponseWriter"}, stdinReaderFix),
		},
	}
}

// tokenCountFix: before 0.0.1b70, every GPT-2 token count started a new gevent thread pool
// that was never closed, leaking a native thread per call in busy model plugins, and texts
// of any length were tokenised. Counting now uses one pool, and very long texts are
// estimated by their length, as later releases do.
const tokenCountFix = `
def _plugd_fix_token_count():
    import socket

    import gevent.socket
    import gevent.threadpool

    pools = []

    def count(self, text: str) -> int:
        if len(text) >= 100000:
            return len(text)
        import tiktoken

        def encode():
            return len(tiktoken.encoding_for_model("gpt2").encode(text))

        if socket.socket is not gevent.socket.socket:
            return encode()
        if not pools:
            pools.append(gevent.threadpool.ThreadPool(1))
        return pools[0].spawn(encode).get(block=True) or 0

    AIModel._get_num_tokens_by_gpt2 = count


_plugd_fix_token_count()
`

// stdinReaderFix: before 0.1.1 the stdio reader read 512 bytes at a time, split the whole
// pending buffer again after each read (quadratic in the length of a line, so a large
// request took minutes) and answered a blank line with an error event. This reader takes
// 64 KiB at a time, splits only once a newline arrives, and skips blank lines. Reading an
// empty pipe still loops, as in every release: the daemon stops a plugin by killing it.
const stdinReaderFix = `
def _plugd_read_stream(self):
    fd = sys.stdin.fileno()
    pending = []
    while True:
        data = tp_read(fd, 65536)
        if not data:
            continue
        pending.append(data)
        if b"\n" not in data:
            continue
        lines = b"".join(pending).split(b"\n")
        pending = [lines.pop()]
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                payload = loads(line)
                yield PluginInStream(
                    session_id=payload["session_id"],
                    event=PluginInStreamEvent.value_of(payload["event"]),
                    data=payload["data"],
                    reader=self,
                    writer=StdioResponseWriter(),
                )
            except Exception as e:
                StdioResponseWriter().error(data={"error": str(e)})


StdioRequestReader._read_stream = _plugd_read_stream
`

// appendBlock returns a fix that appends code to a module that contains every anchor.
// Appending rather than rewriting keeps the release's own code intact and lets the block
// replace a method by plain assignment.
func appendBlock(name string, anchors []string, code string) func(string) (string, bool) {
	return func(src string) (string, bool) {
		for _, a := range anchors {
			if !strings.Contains(src, a) {
				return src, false
			}
		}
		return strings.TrimRight(src, "\n") + "\n\n\n" + fixMarker + " " + name + " ---" + code, true
	}
}

// noPromptEcho: before 0.1.1, LLMResult and every LLMResultChunk carried the caller's whole
// prompt, so a streamed answer sent the prompt back once per chunk (megabytes for long
// conversations). Later releases always send an empty list; so does this fix, by giving the
// field a default and a validator that discards what the plugin passes. A pydantic field
// cannot be changed after its class is built, hence an edit in place.
func noPromptEcho(src string) (string, bool) {
	const field = "    prompt_messages: list[PromptMessage]\n"
	at := strings.Index("\n"+src, "\nfrom pydantic import ")
	if strings.Count(src, field) != 2 || at < 0 {
		return src, false
	}
	replacement := "    prompt_messages: list[PromptMessage] = _plugd_Field(default_factory=list)\n\n" +
		"    " + fixMarker + " no-prompt-echo ---\n" +
		"    @_plugd_field_validator(\"prompt_messages\", mode=\"before\")\n" +
		"    @classmethod\n" +
		"    def plugd_drop_prompt_messages(cls, value):\n" +
		"        return []\n"
	imp := fixMarker + " no-prompt-echo ---\nfrom pydantic import Field as _plugd_Field, field_validator as _plugd_field_validator\n"
	return strings.ReplaceAll(src[:at]+imp+src[at:], field, replacement), true
}

// applyOldSDKFixes applies the fixes that the installed SDK version needs and returns the
// names applied, and the modules to import to check them. Skipped fixes are reported to
// emit and not returned.
func applyOldSDKFixes(site, sdkVersion string, emit func(string)) (applied, modules []string, err error) {
	for _, f := range oldSDKFixes() {
		if !versionBelow(sdkVersion, f.below) {
			continue
		}
		path := filepath.Join(site, filepath.FromSlash(f.file))
		b, err := os.ReadFile(path)
		if err != nil {
			emit(fmt.Sprintf("old-SDK fix %s skipped: %v", f.name, err))
			continue
		}
		src := string(b)
		if strings.Contains(src, fixMarker+" "+f.name) {
			applied, modules = append(applied, f.name), append(modules, f.module)
			continue
		}
		out, ok := f.apply(src)
		if !ok {
			emit(fmt.Sprintf("old-SDK fix %s skipped: %s is not the expected code", f.name, f.file))
			continue
		}
		if err := replaceFile(path, []byte(out)); err != nil {
			return nil, nil, fmt.Errorf("pyenv: old-SDK fix %s: %w", f.name, err)
		}
		// The bytecode compiled at install time describes the old source; drop it so the
		// verification import compiles the fixed file.
		stem := strings.TrimSuffix(filepath.Base(path), ".py")
		stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "__pycache__", stem+".*.pyc"))
		for _, p := range stale {
			os.Remove(p)
		}
		emit(fmt.Sprintf("applied old-SDK fix %s to dify_plugin %s", f.name, sdkVersion))
		applied, modules = append(applied, f.name), append(modules, f.module)
	}
	return applied, modules, nil
}

// installedSDKVersion reads the version of dify_plugin from its dist-info metadata, or ""
// when it is not installed.
func installedSDKVersion(site string) string {
	metas, _ := filepath.Glob(filepath.Join(site, "dify_plugin-*.dist-info", "METADATA"))
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				break // end of the headers
			}
			if v, ok := strings.CutPrefix(line, "Version:"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// replaceFile writes a new file and renames it over path. Installers hard-link files from
// their cache into environments, so writing in place would change the cached copy, and with
// it every environment built later.
func replaceFile(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plugd-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
