/* Unit tests for base/list: an all-zero list is empty; FIFO order; O(1) removal from the
 * head, middle and tail; the element from its node. */
#include "base/list.h"
#include "check.h"

struct item {
    int v;
    struct cpgo_list_node link;
};

int main(void)
{
    struct cpgo_list l = {0};
    CHECK(cpgo_list_empty(&l));
    CHECK(cpgo_list_pop_head(&l) == NULL);
    CHECK(CPGO_LIST_DATA(cpgo_list_head(&l), struct item, link) == NULL);
    struct item it[5];
    for (int i = 0; i < 5; i++) {
        it[i].v = i;
        cpgo_list_push_tail(&l, &it[i].link);
    }
    CHECK_EQ_INT(l.len, 5);
    cpgo_list_remove(&l, &it[2].link); /* middle */
    cpgo_list_remove(&l, &it[4].link); /* tail */
    cpgo_list_remove(&l, &it[0].link); /* head */
    CHECK_EQ_INT(l.len, 2);
    struct item *a = CPGO_LIST_DATA(cpgo_list_pop_head(&l), struct item, link);
    CHECK(a && a->v == 1);
    cpgo_list_push_tail(&l, &it[0].link);
    struct item *b = CPGO_LIST_DATA(cpgo_list_pop_head(&l), struct item, link);
    CHECK(b && b->v == 3);
    b = CPGO_LIST_DATA(cpgo_list_pop_head(&l), struct item, link);
    CHECK(b && b->v == 0);
    CHECK(cpgo_list_empty(&l));
    CHECK(l.tail == NULL);
    CHECK_DONE();
}
