# Sluice: one static binary on a small base image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sluice ./cmd/sluice

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/sluice /usr/local/bin/sluice
COPY configs /etc/sluice
WORKDIR /var/lib/sluice
EXPOSE 9092 8083
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["run", "-f", "/etc/sluice/demo.yaml", "--metrics-listen", "0.0.0.0:8083"]
