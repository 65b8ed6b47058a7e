#!/usr/bin/env bash
# Builds devcluster's container image with podman (make image):
#   container/build.sh            localhost/devcluster:dev and :VERSION, for linux/amd64
#   ARCH=arm64 container/build.sh localhost/devcluster:dev-arm64 and :VERSION-arm64
# IMAGE (default localhost/devcluster) names the repository. Podman's
# settings for these machines: ../shared/CONTAINERS.md (CONTAINERS_CONF).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.27.3
GO=${GO:-go}
command -v podman >/dev/null || { echo "error: podman is needed to build the image (apt-get install podman runc)" >&2; exit 1; }
ARCH=${ARCH:-amd64}
IMAGE=${IMAGE:-localhost/devcluster}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
VERSION=${VERSION//[^A-Za-z0-9_.-]/-} # an image tag's characters
suffix=""
[ "$ARCH" = amd64 ] || suffix="-$ARCH"
# A manifest list of the images this build replaces (make image-multiarch)
# would go stale, and once the prune below removed an image only the list
# refers to, podman could read no image at all: the list goes first.
if podman manifest exists "$IMAGE:multiarch"; then
	podman manifest rm "$IMAGE:multiarch" >/dev/null
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/data"
chmod 1777 "$ctx/rootfs/tmp"
echo "building devcluster $VERSION for linux/$ARCH (static, stripped, like make build)" >&2
CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH "$GO" build -ldflags "-s -w -X main.version=$VERSION" \
	-o "$ctx/rootfs/usr/local/bin/devcluster" ./cmd/devcluster
ln -s devcluster "$ctx/rootfs/usr/local/bin/temporal"
printf 'root:x:0:0:root:/root:/sbin/nologin\ndevcluster:x:1000:1000:devcluster:/data:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\ndevcluster:x:1000:\n' >"$ctx/rootfs/etc/group"
chmod 0755 "$ctx/rootfs/usr" "$ctx/rootfs/usr/local" "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc" "$ctx/data" \
	"$ctx/rootfs/usr/local/bin/devcluster"
chmod 0644 "$ctx/rootfs/etc/passwd" "$ctx/rootfs/etc/group"
cp container/Containerfile "$ctx/"
server=$("$GO" list -m -f '{{.Version}}' go.temporal.io/server)
# --format docker: the OCI image format has no HEALTHCHECK.
podman build --quiet --format docker --arch "$ARCH" --os linux \
	--build-arg VERSION="$VERSION" --build-arg SERVER_VERSION="${server#v}" \
	-t "$IMAGE:dev$suffix" -t "$IMAGE:$VERSION$suffix" -f "$ctx/Containerfile" "$ctx" >/dev/null
# The image a rebuild replaced, untagged now.
podman image prune -f --filter label=org.opencontainers.image.title=devcluster >/dev/null
podman image inspect --format "{{.Size}}" "$IMAGE:dev$suffix" |
	awk -v n="$IMAGE:dev$suffix" -v t="$IMAGE:$VERSION$suffix" '{printf "%s (%s): %.1f MB\n", n, t, $1/1e6}'
