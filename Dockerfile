# syntax=docker/dockerfile:1
#
# handoff: a static Go binary on distroless. No secrets are baked in: CLIENT_ID,
# CLIENT_SECRET, SEAL_KEY and the rest come from the environment at run time
# (on Fly.io: `fly secrets set`). CI runs the same `go build` line (see
# test/deploy/flytoml_test.go) and checks the result is a static binary.

# The image's Go is go.mod's exactly (test/deploy checks it): an older one
# would fetch go.mod's toolchain during the build (or stop, with
# GOTOOLCHAIN=local), a newer one would build with a Go that CI did not test.
FROM golang:1.26.8-alpine AS build
WORKDIR /src
# Dependencies in their own layer: rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /handoff .

# distroless/static: CA certificates (for the calls to the provider), tzdata,
# no shell, no package manager; the :nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /handoff /handoff
ENV PORT=8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/handoff"]
