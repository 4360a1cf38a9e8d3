# Creates an object in the snap's private /dev/shm (on the host: /dev/shm/snap.shm-private/).
echo hello-from-private > /dev/shm/lab-private-data && echo wrote /dev/shm/lab-private-data
