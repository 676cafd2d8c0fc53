# Berth in a container: `berth up` listening on 0.0.0.0:4600, state in /data.
#
# Build it with scripts/image, which stages the context: the release binary and
# the shared libraries it links, copied from the build machine (nothing is
# pulled: there is no base image). Run it with
#
#   docker run -d --name berth -p 127.0.0.1:4600:4600 -v berth-data:/data berth:latest
#
# The container serves the API and the registry; its local agent needs a
# Docker Engine (mount /var/run/docker.sock) and otherwise says it is disabled.
# Run `berth agent` on the hosts that run tasks.
FROM scratch
COPY rootfs/ /
ENV BERTH_LISTEN=0.0.0.0:4600 \
    BERTH_DATA_DIR=/data \
    BERTH_REGISTRY_HOST=127.0.0.1:4600 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
VOLUME /data
EXPOSE 4600
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["up"]
