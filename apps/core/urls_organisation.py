from django.urls import path

from apps.core import views_members

app_name = "organisation"
urlpatterns = [
    path("members/", views_members.members, name="members"),
    path("members/add", views_members.member_add, name="member-add"),
    path("members/<int:user_id>/role", views_members.member_role, name="member-role"),
    path("members/<int:user_id>/remove", views_members.member_remove, name="member-remove"),
]
