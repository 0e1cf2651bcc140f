# The operator as one executable compiled by Bun, on a distroless base.
# Build: docker build -t awms-guacamole-operator .
ARG BUN_VERSION=1.4.5

FROM oven/bun:${BUN_VERSION} AS build
WORKDIR /src
COPY package.json bun.lock ./
# The lockfile names every workspace, so each one's package.json must be there to install.
COPY test/emulator/package.json ./test/emulator/
# postgres.js is installed with the project's patch (package.json's patchedDependencies).
COPY patches ./patches
RUN bun install --frozen-lockfile --production
COPY tsconfig.json ./
COPY src ./src
RUN bun build --compile --minify --sourcemap src/main.ts --outfile /out/awms-guacamole-operator

# The executable links only glibc (ldd: libc, libpthread, libdl, libm), so the
# base is distroless "base": glibc, CA certificates, tzdata; no shell, no package manager.
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/awms-guacamole-operator /usr/local/bin/awms-guacamole-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/awms-guacamole-operator"]
CMD ["run"]
