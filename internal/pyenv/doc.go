// Package pyenv builds and caches the Python environments that plugins run in.
//
// An environment is identified by a key: the SHA-256 of the plugin's normalised dependency
// files, the interpreter (real path and sys.version) and the settings that change what gets
// installed (index, extra index, wheelhouse, extra installer arguments). Environments live
// in <dataDir>/envs/<key>/, so two plugins, or two versions of one plugin, with the same
// dependencies share one build, and ensuring an environment that exists reads a marker file
// and starts no process. A build runs in <dataDir>/envs/.tmp/ and is renamed into place
// once complete; concurrent Ensure calls for one key share one build inside a process,
// and a lock file per key (<dataDir>/locks/) keeps processes sharing the folder apart.
// Downloads are cached in <dataDir>/cache/{uv,pip}, shared by every build.
//
// Which dependency file is used is explained on chooseSpec; in short, a uv.lock when it can
// be honoured, else requirements.txt, else pyproject.toml's dependencies. uv installs when
// it is found (or installed from PyPI into <dataDir>/tools/uv when allowed), else
// `python -m venv` and pip. Installers run in their own process group with an allow-listed
// environment that never includes the daemon's secrets, under one deadline that kills the
// whole group.
//
// Old dify_plugin releases (before 0.1.1) have bugs that the reference daemon fixes inside
// their environments; this package applies its own fixes for them after installing (see
// sdkFix) and records which in the environment's marker.
//
// Environments are shared by every plugin with the same dependencies, and uv hard-links
// files from its cache into them: they must be treated as read-only. Edits made by this
// package replace files rather than write into them for that reason.
package pyenv
