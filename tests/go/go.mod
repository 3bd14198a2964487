module cpgo.test/progs

go 1.21
