// Package manifest is the plugin declaration: manifest.yaml and every provider, tool, model,
// endpoint, agent-strategy, trigger and datasource file it points to, parsed into a Plugin
// whose JSON is the reference daemon's PluginDeclaration, and validated with a file, line,
// column and field for every problem.
//
// # Two kinds of problems
//
// A problem that is not Strict is one the reference daemon (langgenius/dify-plugin-daemon)
// also refuses an install for: manifest.yaml or a referenced file missing or unreadable, YAML
// it cannot decode (syntax, duplicate keys, a list where it decodes a string, ...), author and
// name patterns, the version its unique identifier needs, an author that is a UUID, no
// provider or providers that cannot be combined, an unknown model parameter template, a
// malformed model glob. Our daemon refuses exactly these (Problems.Install), so it installs
// every package the reference installs. Deliberate exceptions refuse more, because they are
// attacks rather than mistakes (issue 16): declaration files over 1 MiB (8 MiB in all), YAML
// that expands aliases past a million values or nests past 100 levels anywhere in a file, and
// file or icon paths that are absolute or leave the plugin.
//
// Every other problem is Strict: the checks of the reference packager (`dify plugin package`:
// version format, required manifest fields, arch, runner, tags, storage size, repo URL,
// lengths, I18n texts, icons under _assets/) and checks beyond the reference, for what the
// Python SDK needs when the plugin starts or what Dify shows (parameter, credential and form
// types, forms, scopes, select options, required identity fields, duplicate names, Python
// sources and the entry point present, README.md present, requirements.txt or
// pyproject.toml present, unknown permissions). `plugd plugin validate` and `package` fail on
// them; a daemon only logs them. Of these, the ones that are Advisory (README.md missing,
// unknown permission keys, a malformed meta.minimum_dify_version, duplicate names, a select
// without options: each tried with the real SDK, which starts and answers) leave a plugin that
// installs and works, and the reference packager
// does not make them: the developer kit only warns about them unless --strict, so that every
// folder the reference packages is packaged too.
//
// The 262 plugins of langgenius/dify-official-plugins load without any install problem and,
// but for a handful with genuine defects, without any problem at all; their JSON is the
// reference's except for the help texts of model parameter templates (see
// parameterTemplates).
//
// # Remote debugging
//
// A plugin run by its author under remote debugging sends no package: the SDK registers it
// with its declarations as JSON (see FromRegistration). They go through the same decoding
// and checks as YAML files, on a tree built from the JSON; only what needs the plugin's
// files (Python sources, README, model globs) is left out.
//
// # Outside input
//
// Packages are uploaded by strangers. Reading is bounded in bytes per file and per plugin,
// the YAML tree is checked in linear time for alias bombs and depth, decoding is bounded in
// values visited, paths leaving the plugin are never followed, and nothing here panics on
// any input (see FuzzLoad, FuzzParseYAML, FuzzFromRegistration and FuzzParseJSON).
package manifest
