package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/kmod"
	"github.com/homestaker/homestaker-boot/init/rescue"
)

type options struct {
	output      string
	modulesDir  string
	modules     []string // names, and the words default and host (modules.go)
	firmwareDir string   // -firmware: where the modules' declared firmware files are taken from
	defaults    string
	files       []string
	trustedKeys []string
	// authorizedKeys are authorized_keys files for the rescue SSH server,
	// besides the volume's secrets/ssh/authorized_keys.
	authorizedKeys []string
	caBundle       string
	tempDir        string
	media          bootMedia // -kernel, -pxe, -usb ...: boot media beside the initramfs
}

// rescueCommands is the toolset on the rescue shell's PATH; tools.go keeps
// them in go.mod.
var rescueCommands = []string{
	"cat", "cp", "dd", "df", "dmesg", "echo", "free", "gosh", "grep", "hexdump",
	"ip", "kill", "ln", "ls", "lsmod", "mkdir", "more", "mount", "mv", "ping",
	"poweroff", "ps", "rm", "shutdown", "sync", "umount", "uname", "wget",
}

func build(o options) error {
	tmp := o.tempDir
	if tmp == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "homestaker-initramfs-"); err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
	}
	staging := filepath.Join(tmp, "root")

	// Refuse bad defaults here rather than at every boot.
	if o.defaults != "" {
		if _, problems := config.Parse(o.defaults, config.Defaults()); len(problems) > 0 {
			var msgs []string
			for _, p := range problems {
				msgs = append(msgs, p.Error())
			}
			return fmt.Errorf("-defaults: %s", strings.Join(msgs, "; "))
		}
		if err := writeFile(filepath.Join(staging, config.DefaultsPath), []byte("# baked in by the initramfs builder; the kernel command line overrides it\n"+o.defaults+"\n")); err != nil {
			return err
		}
	}

	for _, k := range o.trustedKeys {
		b, err := os.ReadFile(k)
		if err != nil {
			return fmt.Errorf("-trusted-keys: %v", err)
		}
		if err := writeFile(filepath.Join(staging, "etc/homestaker/trusted.d", filepath.Base(k)), b); err != nil {
			return err
		}
	}
	for _, k := range o.authorizedKeys {
		keys, err := rescue.LoadAuthorizedKeys([]string{k}, func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "initramfs: -authorized-keys: "+format+"\n", args...)
		})
		if err != nil {
			return fmt.Errorf("-authorized-keys: %v", err)
		}
		if len(keys) == 0 {
			return fmt.Errorf("-authorized-keys: %s holds no public key in authorized_keys format (e.g. the operator's ~/.ssh/id_ed25519.pub)", k)
		}
		b, err := os.ReadFile(k)
		if err != nil {
			return fmt.Errorf("-authorized-keys: %v", err)
		}
		if err := writeFile(filepath.Join(staging, "etc/homestaker/authorized_keys.d", filepath.Base(k)), b); err != nil {
			return err
		}
	}
	if o.caBundle != "" {
		if b, err := os.ReadFile(o.caBundle); err == nil {
			if err := writeFile(filepath.Join(staging, "etc/ssl/certs/ca-certificates.crt"), b); err != nil {
				return err
			}
		} else if !os.IsNotExist(err) {
			return fmt.Errorf("-ca-bundle: %v", err)
		}
	}

	var mods []kmod.Module
	var fw firmwareReport
	if o.modulesDir != "" {
		wanted, err := expandModules(o.modules, func() ([]string, error) {
			ix, err := kmod.ReadIndex(o.modulesDir)
			if err != nil {
				return nil, err
			}
			p, err := hostModules(ix, "/sys/devices", "/proc/modules")
			if err != nil {
				return nil, err
			}
			p.print(os.Stdout, "/sys/devices", "/proc/modules")
			return p.modules(), nil
		})
		if err != nil {
			return err
		}
		if mods, err = stageModules(o.modulesDir, wanted, staging); err != nil {
			return err
		}
		if fw, err = stageFirmware(o.modulesDir, mods, o.firmwareDir, staging); err != nil {
			return err
		}
	} else if o.firmwareDir != "" {
		return fmt.Errorf("-firmware needs -modules-dir: the firmware carried is what the carried modules declare")
	}

	initBin := filepath.Join(tmp, "init")
	if err := buildInit(initBin); err != nil {
		return err
	}

	files := []string{initBin + ":init"}
	staged, err := listFiles(staging)
	if err != nil {
		return err
	}
	for _, rel := range staged {
		files = append(files, filepath.Join(staging, rel)+":"+rel)
	}

	cpioPath := filepath.Join(tmp, "initramfs.cpio")
	var cmds []string
	for _, c := range rescueCommands {
		cmds = append(cmds, "github.com/u-root/u-root/cmds/core/"+c)
	}
	// The busybox is built for the oldest amd64 the test CPUs and real
	// servers have; TCG lacks newer extensions.
	os.Setenv("GOAMD64", "v1")
	l := &llog.Logger{Sink: llog.SinkFor(func(format string, v ...any) {}), Level: slog.LevelError}
	err = uimage.Create(l,
		// goshsmall: the plain line reader. The fancy editors query the
		// terminal, which a serial console never answers.
		uimage.WithEnv(golang.DisableCGO(), golang.WithGOOS("linux"), golang.WithGOARCH("amd64"), golang.WithBuildTag("goshsmall")),
		uimage.WithTempDir(tmp),
		uimage.WithBaseArchive(uimage.DefaultRamfs()),
		uimage.WithBusyboxCommands(cmds...),
		uimage.WithShell("gosh"),
		uimage.WithFiles(files...),
		uimage.WithSkipLDD(),
		uimage.WithCPIOOutput(cpioPath),
	)
	if err != nil {
		return fmt.Errorf("mkuimage: %v", err)
	}

	raw, err := os.ReadFile(cpioPath)
	if err != nil {
		return err
	}
	if err := compress(o.output, raw); err != nil {
		return err
	}
	if err := summarise(os.Stdout, o, raw, mods, fw); err != nil {
		return err
	}
	return writeBootMedia(os.Stdout, o.media, o.output)
}

// buildInit builds our PID 1 reproducibly: no paths, no build id.
func buildInit(out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, "./init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1")
	cmd.Dir = moduleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the init: %v\n%s", err, b)
	}
	return nil
}

func moduleRoot() string {
	b, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "."
	}
	return strings.TrimSpace(string(b))
}

// stageModules copies the closure of wanted into staging's
// lib/modules/VERSION with trimmed index files.
func stageModules(dir string, wanted []string, staging string) ([]kmod.Module, error) {
	idx, err := kmod.ReadIndex(dir)
	if err != nil {
		return nil, err
	}
	for _, sd := range builderSoftdeps {
		idx.AddSoftdep(sd)
	}
	mods, err := idx.Closure(wanted)
	if err != nil {
		return nil, fmt.Errorf("modules from %s: %v", dir, err)
	}
	dst := filepath.Join(staging, "lib", "modules", filepath.Base(filepath.Clean(dir)))
	for _, m := range mods {
		b, err := os.ReadFile(filepath.Join(dir, m.Path))
		if err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(dst, m.Path), b); err != nil {
			return nil, err
		}
	}
	if err := idx.WriteTrimmed(dst, mods); err != nil {
		return nil, err
	}
	return mods, nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func listFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) && p == root {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out = append(out, rel)
		return err
	})
	sort.Strings(out)
	return out, err
}

// compress writes raw zstd-compressed. One encoder goroutine keeps the
// output identical from run to run.
func compress(path string, raw []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	if _, err := enc.Write(raw); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return atomicfile.Replace(path, buf.Bytes(), 0o644)
}

// summarise prints what went in and the sizes, so growth is noticed.
func summarise(w io.Writer, o options, raw []byte, mods []kmod.Module, fw firmwareReport) error {
	rr := cpio.Newc.Reader(bytes.NewReader(raw))
	recs, err := cpio.ReadAllRecords(rr)
	if err != nil {
		return fmt.Errorf("reading back the archive: %v", err)
	}
	var modBytes, fwBytes, other int64
	var nfiles, nfw int
	for _, r := range recs {
		if r.Mode&cpio.S_IFMT != cpio.S_IFREG {
			continue
		}
		nfiles++
		switch {
		case strings.HasPrefix(r.Name, "lib/modules/"):
			modBytes += int64(r.FileSize)
		case strings.HasPrefix(r.Name, "lib/firmware/"):
			fwBytes += int64(r.FileSize)
			nfw++
		default:
			other += int64(r.FileSize)
		}
		if r.FileSize > 1<<20 {
			fmt.Fprintf(w, "  %-40s %s\n", r.Name, size(int64(r.FileSize)))
		}
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	fmt.Fprintf(w, "  rescue commands: %s\n", strings.Join(rescueCommands, " "))
	if len(mods) > 0 {
		fmt.Fprintf(w, "  modules (%d, %s): %s\n", len(mods), size(modBytes), strings.Join(names, " "))
	}
	fw.print(w)
	if o.defaults != "" {
		fmt.Fprintf(w, "  defaults: %s\n", o.defaults)
	}
	st, err := os.Stat(o.output)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %s compressed, %s uncompressed (%d modules %s, %d firmware files %s, the rest %s), %d files\n",
		o.output, size(st.Size()), size(int64(len(raw))), len(mods), size(modBytes), nfw, size(fwBytes), size(other), nfiles)
	return nil
}

func size(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
