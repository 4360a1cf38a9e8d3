# Creates the object the slot shares; its text is what shm-consumer.read must print.
echo hello-from-provider > /dev/shm/lab-shm-data && echo wrote /dev/shm/lab-shm-data
