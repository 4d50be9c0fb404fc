' TokenFlow companion, started at login (tokenflow service install): runs the daemon
' without a console window, appending its output to the log file.
Set shell = CreateObject("WScript.Shell")
Set env = shell.Environment("Process")
env("TOKENFLOW_HOME") = "/tmp/tf-svc-enrSW7/tf"
shell.CurrentDirectory = "/tmp/tf-svc-enrSW7/tf/data"
shell.Run "cmd /c """"/usr/bin/node"" ""/work/wt/pkg/bin/tokenflow.mjs"" ""serve"" >> ""/tmp/tf-svc-enrSW7/tf/data/service.log"" 2>&1""", 0, False
