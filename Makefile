# homestaker-boot. `make` builds, `make demo` boots the chain in QEMU,
# `make test` runs every test (QEMU included). `make deps` sets up a fresh
# Debian 12 machine and is safe to run again.

SHELL := /bin/bash
GO ?= go
BUILD := build
KERNEL_CACHE := .cache/kernel/current
# Packages the build and the tests need; `make deps` installs the missing.
DEB_PACKAGES := qemu-system-x86 qemu-utils btrfs-progs kmod zstd cpio ovmf ca-certificates e2fsprogs dosfstools xfsprogs openssh-client util-linux systemd-boot-efi minisign dnsmasq-base wireguard-go wireguard-tools rsyslog
# What `homestaker prepare`'s tests write foreign signatures with; installed
# without their recommends (mdadm's would bring a mail server and udev).
DEB_TEST_TOOLS := mdadm lvm2 cryptsetup-bin bcache-tools reiserfsprogs

export CGO_ENABLED := 0

.PHONY: build demo test bench fuzz deps kernel clean vet

build: $(BUILD)/vmlinuz $(BUILD)/initramfs.cpio.zst $(BUILD)/homestaker

deps: kernel
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	tools=$$(for p in $(DEB_TEST_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	if [ -n "$$missing$$tools" ]; then echo "deps: installing $$missing $$tools"; $$SUDO apt-get update -qq; fi; \
	if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; fi; \
	if [ -n "$$tools" ]; then DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$tools; fi
	@command -v qemu-system-x86_64 >/dev/null || { echo "deps: qemu-system-x86_64 missing after install" >&2; exit 1; }
	@command -v mkfs.btrfs >/dev/null || { echo "deps: mkfs.btrfs missing after install" >&2; exit 1; }

# The test kernel: a pinned Debian kernel package, unpacked, not installed.
kernel:
	@command -v depmod >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get install -y -qq kmod; }
	@./vmtest/kernel.sh >/dev/null

$(BUILD)/vmlinuz: kernel
	@mkdir -p $(BUILD)
	@cp -f $(KERNEL_CACHE)/boot/vmlinuz-* $@

# Also the PXE folder (build/ itself: boot.ipxe beside vmlinuz and the
# initramfs) and the USB/UEFI image.
$(BUILD)/initramfs.cpio.zst: kernel $(BUILD)/vmlinuz FORCE
	$(GO) run ./initramfs -o $@ -modules-dir $$(echo $(KERNEL_CACHE)/lib/modules/*) -kernel $(BUILD)/vmlinuz -pxe $(BUILD) -usb $(BUILD)/homestaker-usb.img

$(BUILD)/homestaker: FORCE
	$(GO) build -trimpath -o $@ ./cmds/homestaker

demo: deps build
	$(GO) run ./vmtest/demo -initramfs $(BUILD)/initramfs.cpio.zst -kernel $(BUILD)/vmlinuz -modules-dir $$(echo $(KERNEL_CACHE)/lib/modules/*) -cli $(BUILD)/homestaker

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi

# Progress while the tests run: gotestsum prints a line as each package
# (unit tests) or each QEMU scenario ends, with its result and time, and
# exits with go test's status. The QEMU tests list the serial logs of the
# failed scenarios at the end.
GOTESTSUM := $(GO) run gotest.tools/gotestsum@v1.13.0

# Unit tests first (fast), then the QEMU tests on the initramfs just built.
# The QEMU tests' -timeout is a last resort, within CI's 90 minutes: a hung
# VM fails its own test after 10 minutes (vmtest/harness_test.go).
test: deps build vet
	CGO_ENABLED=1 $(GOTESTSUM) --format pkgname -- -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v /vmtest)
	HOMESTAKER_BUILD=$(CURDIR)/$(BUILD) $(GOTESTSUM) --format testname --hide-summary=output -- -count=1 -timeout 80m ./vmtest/...

# The boot timeline against a baseline booted in the same run.
bench: deps build
	HOMESTAKER_BUILD=$(CURDIR)/$(BUILD) $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./vmtest/

FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./... | grep -v '/vmtest$$'); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz: $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf $(BUILD)

FORCE:
