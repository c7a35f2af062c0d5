"""One Debian 12 virtual machine under qemu: the ``vm`` test tier and ``pdn vm``.

Where node containers cannot go (live sysctls, kernel modules, mounts, auditd, OpenSCAP), a real
kernel can: :mod:`pdn.vm.image` builds and caches the disk, :mod:`pdn.vm.machine` boots it on a
throwaway overlay with SSH on 127.0.0.1 only, :mod:`pdn.vm.oscap` evaluates the ANSSI profile.
"""
