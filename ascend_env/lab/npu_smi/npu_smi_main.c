/* npu-smi for the simulated Ascend lab: all work happens in libdrvdsmi_host.so (see dsmi_lab.c). */
int dsmi_lab_main(int argc, char **argv);

int main(int argc, char **argv)
{
    return dsmi_lab_main(argc, argv);
}
